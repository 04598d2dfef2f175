"""The plane manager as a session stage (:class:`arkit.core.managers.TrackableManager`)."""

from __future__ import annotations

from arkit.core.managers import ManagerOutput, TrackableManager


class PlaneStage(TrackableManager):
    """Runs :class:`arkit.planes.manager.PlaneManager` on every frame with depth.

    Planes live in world coordinates with stable ``plane:<n>`` ids; while the camera is not
    tracked they are PAUSED. Frames without depth leave the planes unchanged.
    """

    name = "planes"

    def __init__(self, **manager_options):
        from arkit.planes.manager import PlaneManager

        self.manager = PlaneManager(**manager_options)

    def update(self, frame, camera) -> ManagerOutput:
        changes = self.manager.update_frame(frame, camera)
        return ManagerOutput(tuple(self.manager.planes()), changes)

    def reset(self) -> None:
        self.manager.reset() if hasattr(self.manager, "reset") else None
