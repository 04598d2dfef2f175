"""The plane manager as a session stage (:class:`arkit.core.managers.TrackableManager`)."""

from __future__ import annotations

from arkit.core.managers import ManagerOutput, TrackableManager


class PlaneStage(TrackableManager):
    """Runs :class:`arkit.planes.manager.PlaneManager` on every frame with depth.

    Planes live in world coordinates with stable ``plane:<n>`` ids; while the camera is not
    tracked they are PAUSED. Frames without depth leave the planes unchanged, unless a
    ``point_source`` is given: then every ``sparse_every_n_frames``-th tracked frame without
    depth runs :class:`~arkit.planes.sparse_planes.SparsePlaneDetector` on its points.

    Parameters
    ----------
    point_source : callable () -> (N, 3) float, optional
        Current sparse world points, e.g. a monocular tracker's map:
        ``lambda: tracker.map.positions[tracker.map.alive_ids]``.
    sparse_detector : SparsePlaneDetector, optional
        Defaults to one with the manager's ``up_world`` as gravity (pass
        ``SparsePlaneDetector(gravity_up_world=None)`` when the world is not gravity-aligned).
    sparse_every_n_frames : int
    **manager_options
        Passed to :class:`PlaneManager`.
    """

    name = "planes"
    #: the numba kernels of the extractor: 1.1-1.6 s of CPU to load from numba's cache, once per
    #: zygote rather than once per planes worker
    worker_warm_up = ("arkit.planes.depth_kernels:load",)

    def __init__(self, point_source=None, sparse_detector=None, sparse_every_n_frames: int = 5, **manager_options):
        from arkit.planes.manager import PlaneManager

        self.manager = PlaneManager(**manager_options)
        self.point_source = point_source
        self.sparse_detector = sparse_detector
        self.sparse_every_n_frames = max(1, int(sparse_every_n_frames))
        self._sparse_count = 0

    @property
    def idle_without_depth(self) -> bool:
        # frames without depth only pause or resume the planes, unless sparse points feed them
        return self.point_source is None

    def update(self, frame, camera) -> ManagerOutput:
        changes = self.manager.update_frame(frame, camera)
        if self.point_source is not None and frame.depth_m is None and camera.is_tracking:
            changes = self._update_sparse(changes)
        return ManagerOutput(tuple(self.manager.planes()), changes)

    def _update_sparse(self, changes):
        import numpy as np

        from arkit.planes.sparse_planes import SparsePlaneDetector, update_manager_with_sparse_planes

        self._sparse_count += 1
        if (self._sparse_count - 1) % self.sparse_every_n_frames:
            return changes
        if self.sparse_detector is None:
            self.sparse_detector = SparsePlaneDetector(gravity_up_world=self.manager.params.up_world)
        pts = np.asarray(self.point_source(), np.float64).reshape(-1, 3)
        planes = self.sparse_detector.detect(pts, seed=0)
        return update_manager_with_sparse_planes(self.manager, planes, pts, state_changes=changes)

    def reset(self) -> None:
        self.manager.reset() if hasattr(self.manager, "reset") else None
        self._sparse_count = 0
