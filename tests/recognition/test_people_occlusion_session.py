"""Virtual content is hidden behind a segmented person (the session's occlusion path)."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, TrackingState
from arkit.scene import overlays
from arkit.scene.graph import Scene
from arkit.session import Session
from arkit.tracking.base import Tracker, TrackerOutput


class FixedCamera(Tracker):
    def track(self, frame):
        return TrackerOutput(CameraState(np.eye(4), TrackingState.TRACKING))


def test_overlay_hidden_behind_person(mp_models):
    import cv2

    from arkit.io.shared_data import shared_data_path
    from arkit.recognition.managers import PeopleOcclusionManager

    video = shared_data_path("opencv_samples_data", "video", "Megamind.avi")
    if video is None:
        pytest.skip("real data Megamind.avi not present (set ARKIT_SHARED_DATA)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 36)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    K = Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)
    # a big green quad 2 m in front of the camera covering the whole middle of the image
    scene = Scene()
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # quad normal (+Y local) towards the camera
    T[:3, 3] = [0, 0, 2.0]
    scene.add(overlays.box([2.0, 0.001, 2.0], [0.0, 1.0, 0.0, 1.0], unlit=True), T_anchor_content=T)
    frame = Frame(0, 0.0, rgb, K)
    with Session(FixedCamera(), scene) as plain:
        without = plain.step(frame).image
    with Session(FixedCamera(), scene, managers=[PeopleOcclusionManager()]) as s:
        r = s.step(frame)
        mask = s.managers[0]._seg.mask(rgb)
    face = (slice(200, 320), slice(230, 330))
    green = lambda img: (img[..., 1].astype(int) - img[..., 0] > 150) & (img[..., 1].astype(int) - img[..., 2] > 150)
    assert green(without[face]).mean() > 0.95           # drawn over the face without occlusion
    assert green(r.image[face]).mean() < 0.1            # hidden behind the person with it
    # only the person is cut out: most of the quad away from the person is still drawn
    away = green(without) & (mask < 0.1)
    assert away.sum() > 1000 and green(r.image)[away].mean() > 0.95
