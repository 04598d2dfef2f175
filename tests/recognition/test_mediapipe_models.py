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


@pytest.mark.parametrize("model", ["face_detector", "face_detector_full_range"])
def test_face_detector_and_tracker(mp_models, person_frame, model):
    from arkit.recognition.mediapipe_face import FaceDetector, FaceTracker

    h, w = person_frame.shape[:2]
    K = Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)
    with FaceTracker(FaceDetector(model, min_confidence=0.6)) as faces:
        out = faces.process(person_frame, K)
        assert len(out.trackables) >= 1
        f = out.trackables[0]
        x, y, bw, bh = f.box_xywh_px
        assert 180 < x + bw / 2 < 380 and 160 < y + bh / 2 < 350 and f.score > 0.8
        assert f.id == "face:0" and out.changes.added[0] == "face:0"
        kp = f.image_points_px
        assert kp.shape == (6, 2) and x <= kp[2, 0] <= x + bw  # nose inside the box
        t = f.T_world_local[:3, 3]
        assert 0.2 < t[2] < 2.0  # a head filling ~1/5 of the frame at f=600 px is well under 2 m
        assert f.T_world_local[:3, 1] @ (-t / np.linalg.norm(t)) > 0.7  # +Y faces the camera
        out2 = faces.process(person_frame, K)
        assert out2.trackables[0].id == "face:0" and "face:0" in out2.changes.updated
        out3 = faces.process(np.zeros_like(person_frame), K)
        assert out3.trackables == () and out3.changes.removed == tuple(sorted(out2.changes.updated))


@pytest.mark.parametrize("model", ["selfie_segmenter", "selfie_segmenter_landscape"])
def test_people_segmentation_mask(mp_models, person_frame, model):
    from arkit.recognition.segmentation import PeopleSegmenter

    with PeopleSegmenter(model) as seg:
        m = seg.mask(person_frame)
    assert m.shape == person_frame.shape[:2] and m.dtype == np.float32
    assert 0.0 <= m.min() and m.max() <= 1.0
    assert m[200:320, 230:330].mean() > 0.7    # the face
    assert m[0:80, 560:720].mean() < 0.2       # dark background, top right
    assert 0.1 < (m > 0.5).mean() < 0.7


def test_coarse_face_pose_from_keypoints():
    from arkit.recognition.mediapipe_face import FaceDetection, coarse_face_pose

    K = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
    # frontal face at the image centre, ears 100 px apart -> 0.15 m * 600 / 100 = 0.9 m away
    kp = np.array([[300, 220], [340, 220], [320, 245], [320, 265], [270, 235], [370, 235]], np.float64)
    front = coarse_face_pose(FaceDetection(np.array([265.0, 185.0, 110.0, 110.0]), 0.9, kp), K)
    assert abs(front[2, 3] - 0.9) < 0.05
    np.testing.assert_allclose(front[:3, 1], [0, 0, -1], atol=0.05)   # +Y towards the camera
    np.testing.assert_allclose(front[:3, 2], [0, 1, 0], atol=0.05)    # +Z down the face
    # nose moved towards the image right: the face turns right (+Y gets a +x component)
    turned = kp.copy()
    turned[2, 0] += 30
    T = coarse_face_pose(FaceDetection(np.array([265.0, 185.0, 110.0, 110.0]), 0.9, turned), K)
    assert T[0, 1] > 0.2 and T[2, 1] < -0.5
    # head tilted: the eye line rotates with it
    rolled = kp.copy()
    rolled[1, 1] += 40
    T = coarse_face_pose(FaceDetection(np.array([265.0, 185.0, 110.0, 110.0]), 0.9, rolled), K)
    assert T[1, 0] > 0.5  # +X (towards the left eye) now points down the image
