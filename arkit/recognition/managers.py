"""Recognition stages as session managers (:class:`arkit.core.managers.TrackableManager`).

Each wraps one recogniser so a :class:`arkit.Session` runs it after camera tracking:
image targets, faces (detector or landmarker), hands, body pose, objects by category, and
people segmentation (which yields no trackables but an occlusion
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
    """Faces (``face:<n>`` trackables) from MediaPipe's face detector, or with ``landmarks=True``
    from its FaceLandmarker (478-point mesh, optional blendshapes, metric 6-DoF pose).

    Parameters
    ----------
    landmarks : bool
        Use :class:`~arkit.recognition.mediapipe_face_landmarks.FaceLandmarkTracker` (model
        ``face_landmarker``) instead of :class:`~arkit.recognition.mediapipe_face.FaceTracker`.
    **options
        Passed to the tracker (e.g. ``blendshapes=True``, ``max_faces=2``, ``landmarker=...``).
    """

    name = "faces"

    def __init__(self, landmarks: bool = False, **options):
        self.landmarks = bool(landmarks)
        if self.landmarks:
            from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker

            self._tracker = FaceLandmarkTracker(**options)
        else:
            from arkit.recognition.mediapipe_face import FaceTracker

            self._tracker = FaceTracker(**options)

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        if self.landmarks:
            r = self._tracker.process(frame.image_rgb, frame.intrinsics, _pose(camera), frame.timestamp_s)
        else:
            r = self._tracker.process(frame.image_rgb, frame.intrinsics, _pose(camera))
        return ManagerOutput(tuple(r.trackables), r.changes)

    def reset(self) -> None:
        if hasattr(self._tracker, "reset"):
            self._tracker.reset()

    def close(self) -> None:
        self._tracker.close()


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


class ObjectManager(TrackableManager):
    """Objects by category (``object:<category>`` trackables) from MediaPipe's ObjectDetector.

    Uses the frame's depth for a metric pose when it has one (see
    :mod:`arkit.recognition.mediapipe_objects`). ``options`` go to
    :class:`~arkit.recognition.mediapipe_objects.ObjectTracker` (e.g. ``categories=["cup"]``,
    ``min_score=0.5``, ``detector=...``).
    """

    name = "objects"

    def __init__(self, **options):
        from arkit.recognition.mediapipe_objects import ObjectTracker

        self._tracker = ObjectTracker(**options)

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        r = self._tracker.process(frame.image_rgb, frame.intrinsics, _pose(camera), depth_m=frame.depth_m)
        return ManagerOutput(tuple(r.trackables), r.changes)

    def reset(self) -> None:
        self._tracker.reset()

    def close(self) -> None:
        self._tracker.close()


def build_recognition_managers(cfg: dict) -> list:
    """Managers for a scene file's validated ``recognition`` section."""
    managers = []
    if cfg.get("image_targets"):
        managers.append(ImageTargetManager(cfg["image_targets"]))
    faces = cfg.get("faces")
    if faces is True or isinstance(faces, dict):  # a mapping (even empty) enables it with options
        managers.append(FaceManager(**(faces if isinstance(faces, dict) else {})))
    if cfg.get("people_occlusion"):
        managers.append(PeopleOcclusionManager())
    if cfg.get("hands"):
        managers.append(HandManager())
    if cfg.get("body_pose"):
        managers.append(PoseManager())
    objects = cfg.get("objects")
    if objects is True or isinstance(objects, dict):
        managers.append(ObjectManager(**(objects if isinstance(objects, dict) else {})))
    return managers
