"""What the MediaPipe landmark trackers (hands, body pose) share: running mode, timestamps,
the per-frame call, and closing the Tasks object."""

from __future__ import annotations

from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics


class LandmarkerTracker:
    """Base of :class:`~arkit.recognition.mediapipe_hands.HandTracker` and
    :class:`~arkit.recognition.mediapipe_pose.BodyPoseTracker`.

    Subclasses set ``self._lm`` (a MediaPipe Tasks landmarker, or a stand-in with ``detect`` /
    ``detect_for_video``) and implement ``observations(result, w, h)`` and
    ``from_observations(observations, intrinsics, T_world_camera)``.
    """

    def _init_running_mode(self, running_mode: str) -> None:
        if running_mode not in ("image", "video"):
            raise ValueError(f"running_mode must be 'image' or 'video', got {running_mode!r}")
        self.running_mode = running_mode
        self._last_ms = -1

    def _vision_running_mode(self):
        from mediapipe.tasks.python import vision

        return vision.RunningMode.VIDEO if self.running_mode == "video" else vision.RunningMode.IMAGE

    def detect(self, image_rgb: np.ndarray, timestamp_ms: Optional[int] = None) -> list:
        """Observations in an (H, W, 3) uint8 RGB image."""
        from arkit.recognition.segmentation import to_mp_image

        h, w = np.shape(image_rgb)[:2]
        img = to_mp_image(image_rgb)
        if self.running_mode == "video":
            ms = self._last_ms + 1 if timestamp_ms is None else int(timestamp_ms)
            ms = max(ms, self._last_ms + 1)  # MediaPipe requires strictly increasing timestamps
            self._last_ms = ms
            res = self._lm.detect_for_video(img, ms)
        else:
            res = self._lm.detect(img)
        return self.observations(res, w, h)

    def process(self, image_rgb, intrinsics: Intrinsics, T_world_camera=None, timestamp_s: Optional[float] = None):
        """One frame's trackables (poses in world when ``T_world_camera`` is given)."""
        intrinsics.check_image(image_rgb)
        ms = None if timestamp_s is None else int(round(1000.0 * timestamp_s))
        return self.from_observations(self.detect(image_rgb, ms), intrinsics, T_world_camera)

    def close(self) -> None:
        lm, self._lm = getattr(self, "_lm", None), None
        if lm is not None and hasattr(lm, "close"):
            lm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
