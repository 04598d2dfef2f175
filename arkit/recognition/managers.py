"""Recognition stages as session managers (:class:`arkit.core.managers.TrackableManager`).

Each wraps one recogniser so a :class:`arkit.Session` runs it after camera tracking:
image targets, faces, and people segmentation (which yields no trackables but an occlusion
mask that hides virtual content behind people).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from arkit.core.frame import Frame
from arkit.core.managers import ManagerOutput, TrackableManager
from arkit.core.trackables import CameraState

log = logging.getLogger(__name__)


def _pose(camera: CameraState):
    return np.asarray(camera.T_world_camera) if camera.is_tracking else None


class ImageTargetManager(TrackableManager):
    """Image targets (``image:<name>`` trackables) from a database file or folder.

    Parameters
    ----------
    database : ImageTargetDatabase or path
        A ``.npz`` made by ``arkit targets build`` or a folder of target images.
    """

    name = "image_targets"

    def __init__(self, database, **tracker_options):
        from arkit.recognition.image_targets import ImageTargetDatabase
        from arkit.recognition.target_tracking import ImageTargetTracker

        if not isinstance(database, ImageTargetDatabase):
            p = Path(database)
            database = ImageTargetDatabase.from_folder(p) if p.is_dir() else ImageTargetDatabase.load(p)
        self.database = database
        self._tracker = ImageTargetTracker(database, **tracker_options)

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        r = self._tracker.process_frame(frame, _pose(camera))
        return ManagerOutput(tuple(r.trackables), r.changes)

    def reset(self) -> None:
        self._tracker.reset()


class FaceManager(TrackableManager):
    """Faces (``face:<n>`` trackables) from MediaPipe's face detector."""

    name = "faces"

    def __init__(self, **options):
        from arkit.recognition.mediapipe_face import FaceTracker

        self._tracker = FaceTracker(**options)

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        r = self._tracker.process(frame.image_rgb, frame.intrinsics, _pose(camera))
        return ManagerOutput(tuple(r.trackables), r.changes)


class PeopleOcclusionManager(TrackableManager):
    """People segmentation: the renderer hides content where a person is (mask > 0.5)."""

    name = "people_occlusion"

    def __init__(self, model: str = "selfie_segmenter"):
        from arkit.recognition.segmentation import PeopleSegmenter

        self._seg = PeopleSegmenter(model)

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        return ManagerOutput(occluder_mask=self._seg.mask(frame.image_rgb))

    def close(self) -> None:
        self._seg.close()


class _LandmarkManager(TrackableManager):
    """Shared body of the MediaPipe landmark managers: ``tracker.process(rgb, K, T_wc, t)``."""

    def __init__(self, tracker):
        self._tracker = tracker

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        r = self._tracker.process(frame.image_rgb, frame.intrinsics, _pose(camera), frame.timestamp_s)
        return ManagerOutput(tuple(r.trackables), r.changes)

    def reset(self) -> None:
        self._tracker.reset()

    def close(self) -> None:
        self._tracker.close()


class HandManager(_LandmarkManager):
    """Hands (``hand:left`` / ``hand:right`` trackables with pinch state) from MediaPipe's HandLandmarker."""

    name = "hands"

    def __init__(self, **options):
        from arkit.recognition.mediapipe_hands import HandTracker

        super().__init__(HandTracker(**options))


class PoseManager(_LandmarkManager):
    """Body pose (``body:<n>`` trackables, 33 landmarks) from MediaPipe's PoseLandmarker."""

    name = "body_pose"

    def __init__(self, **options):
        from arkit.recognition.mediapipe_pose import BodyPoseTracker

        super().__init__(BodyPoseTracker(**options))


def build_recognition_managers(cfg: dict) -> list:
    """Managers for a scene file's validated ``recognition`` section."""
    managers = []
    if cfg.get("image_targets"):
        managers.append(ImageTargetManager(cfg["image_targets"]))
    if cfg.get("faces"):
        managers.append(FaceManager())
    if cfg.get("people_occlusion"):
        managers.append(PeopleOcclusionManager())
    if cfg.get("hands"):
        managers.append(HandManager())
    if cfg.get("body_pose"):
        managers.append(PoseManager())
    return managers
