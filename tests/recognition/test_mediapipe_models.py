"""Face detection and people segmentation run for real on a frame of Megamind.avi (a CG-animated
person), with the models imported offline from the mediapipe==0.10.21 wheel."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics


@pytest.fixture(scope="module")
def person_frame():
    import cv2

    from arkit.io.shared_data import shared_data_path

    video = shared_data_path("opencv_samples_data", "video", "Megamind.avi")
    if video is None:
        pytest.skip("real data opencv_samples_data/video/Megamind.avi not present (set ARKIT_SHARED_DATA)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 36)
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        pytest.skip("cannot decode Megamind.avi frame 36")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # 720x528; the face is near (211..352, 185..326)


def test_face_detector_and_tracker(mp_models, person_frame):
    from arkit.recognition.mediapipe_face import FaceDetector, FaceTracker

    h, w = person_frame.shape[:2]
    K = Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)
    with FaceTracker(FaceDetector(min_confidence=0.6)) as faces:
        out = faces.process(person_frame, K)
        assert len(out.trackables) >= 1
        f = out.trackables[0]
        x, y, bw, bh = f.box_xywh_px
        assert 180 < x + bw / 2 < 380 and 160 < y + bh / 2 < 350 and f.score > 0.8
        assert f.id == "face:0" and out.changes.added == ("face:0",)
        kp = f.image_points_px
        assert kp.shape == (6, 2) and x <= kp[2, 0] <= x + bw  # nose inside the box
        t = f.T_world_local[:3, 3]
        assert 0.2 < t[2] < 2.0  # a head filling ~1/5 of the frame at f=600 px is well under 2 m
        assert f.T_world_local[:3, 1] @ (-t / np.linalg.norm(t)) > 0.7  # +Y faces the camera
        out2 = faces.process(person_frame, K)
        assert out2.trackables[0].id == "face:0" and "face:0" in out2.changes.updated
        out3 = faces.process(np.zeros_like(person_frame), K)
        assert out3.trackables == () and out3.changes.removed == tuple(sorted(out2.changes.updated))


def test_people_segmentation_mask(mp_models, person_frame):
    from arkit.recognition.segmentation import PeopleSegmenter

    with PeopleSegmenter() as seg:
        m = seg.mask(person_frame)
    assert m.shape == person_frame.shape[:2] and m.dtype == np.float32
    assert 0.0 <= m.min() and m.max() <= 1.0
    assert m[200:320, 230:330].mean() > 0.7    # the face
    assert m[0:80, 560:720].mean() < 0.2       # dark background, top right
    assert 0.1 < (m > 0.5).mean() < 0.7
