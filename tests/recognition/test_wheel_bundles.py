"""Hand and body-pose landmarker bundles packed offline from the mediapipe==0.10.21 wheel
(:mod:`arkit.recognition.model_bundles`), run for real on a Megamind.avi frame."""

import os
import zipfile

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError


@pytest.fixture(scope="module")
def wheel_cache(tmp_path_factory):
    """A model cache with the hand and full pose landmarker bundles packed from the legacy wheel."""
    from arkit.recognition import models

    w = os.environ.get("ARKIT_MEDIAPIPE_WHEEL")
    if not (w and os.path.isfile(w)):
        try:
            w = str(models.download_legacy_wheel(tmp_path_factory.mktemp("mpwheel_bundles")))
        except Exception as e:
            pytest.skip(f"cannot get {models.LEGACY_WHEEL}: {e}")
    mp = pytest.MonkeyPatch()
    mp.setenv("ARKIT_MODELS_DIR", str(tmp_path_factory.mktemp("bundle_cache")))
    try:
        done = models.import_from_wheel(w, names=["hand_landmarker", "pose_landmarker_full"])
        assert set(done) == {"hand_landmarker", "pose_landmarker_full"}
        yield w
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def person():
    import cv2

    from arkit.io.shared_data import shared_data_path

    video = shared_data_path("opencv_samples_data", "video", "Megamind.avi")
    if video is None:
        pytest.skip("real data opencv_samples_data/video/Megamind.avi not present (set ARKIT_SHARED_DATA)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 36)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # 720x528; the face is near (211..352, 185..326)


def test_packed_bundles_are_deterministic_zips_with_task_names(wheel_cache):
    from arkit.recognition import models
    from arkit.recognition.model_bundles import pack_from_wheel

    with zipfile.ZipFile(models.model_path("pose_landmarker_full")) as z:
        assert sorted(z.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
    with zipfile.ZipFile(models.model_path("hand_landmarker")) as z:
        assert sorted(z.namelist()) == ["hand_detector.tflite", "hand_landmarks_detector.tflite"]
    with zipfile.ZipFile(wheel_cache) as zw:
        again = pack_from_wheel("pose_landmarker_full", zw)
        with pytest.raises(ArkitError, match="cannot be packed"):
            pack_from_wheel("face_landmarker", zw)
    assert models.sha256_file(models.model_path("pose_landmarker_full")) == models.sources()["pose_landmarker_full"]["sha256"]
    import hashlib

    assert hashlib.sha256(again).hexdigest() == models.sources()["pose_landmarker_full"]["sha256"]


def test_add_image_normalization_rejects_bad_input(wheel_cache):
    from arkit.recognition.model_bundles import add_image_normalization

    with pytest.raises(ArkitError, match="not a TFLite model"):
        add_image_normalization(b"not a model at all", 0.0, 255.0)
    with zipfile.ZipFile(wheel_cache) as zw:
        det = zw.read("mediapipe/modules/pose_detection/pose_detection.tflite")
    with pytest.raises(ArkitError, match="already has TFLite metadata"):
        add_image_normalization(det, 0.0, 255.0)


def test_face_mesh_padding_output(wheel_cache):
    """The padded mesh model's first output holds 478 x 3 values; the 10 extra rows copy eyelid landmarks."""
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    from arkit.recognition.model_bundles import IRIS_PLACEHOLDERS, pad_face_mesh_to_478

    with zipfile.ZipFile(wheel_cache) as zw:
        raw = zw.read("mediapipe/modules/face_landmark/face_landmark.tflite")
        det = zw.read("mediapipe/modules/face_detection/face_detection_short_range.tflite")
    m = tfl.Model.GetRootAsModel(bytearray(pad_face_mesh_to_478(raw)), 0)
    sg = m.Subgraphs(0)
    assert sg.OutputsLength() == 2
    assert sg.Tensors(sg.Outputs(0)).ShapeAsNumpy().tolist() == [1, 1, 1, 1434]
    assert sg.Tensors(sg.Outputs(1)).ShapeAsNumpy().tolist() == [1, 1, 1, 1]        # face flag untouched
    assert len(IRIS_PLACEHOLDERS) == 10 and all(0 <= i < 468 for i in IRIS_PLACEHOLDERS)
    with pytest.raises(ArkitError, match="1404"):
        pad_face_mesh_to_478(det)


def test_body_pose_runs_for_real_on_a_person(wheel_cache, person):
    """Default BodyPoseTracker() falls back to the packed full model and finds the woman's pose."""
    from arkit.recognition.mediapipe_pose import BodyPoseTracker

    h, w = person.shape[:2]
    K = Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)
    with BodyPoseTracker() as tr:
        assert tr.model_file.name == "pose_landmarker_full.task"
        assert tr.process(np.zeros((480, 640, 3), np.uint8), Intrinsics(640, 480, 500, 500, 320, 240)).trackables == ()
        (b,) = tr.process(person, K).trackables
    p = b.image_points_px
    assert 200 < p[0, 0] < 360 and 185 < p[0, 1] < 330 and b.visibility[0] > 0.5      # nose on the face
    assert p[11, 0] > p[0, 0] > p[12, 0]                        # her left shoulder on the image right
    assert p[11, 1] > 300 and p[12, 1] > 300                     # shoulders below the face
    assert 100 < np.linalg.norm(p[11] - p[12]) < 400
    T = b.T_world_local
    assert 0.3 < T[2, 3] < 5.0 and T[2, 2] < -0.5                # in front, chest towards the camera


def test_hand_landmarker_from_imported_bundle_loads(wheel_cache):
    """HandTracker() finds the imported bundle in the cache, loads and runs it (the same networks
    find real hands in box.mp4: tests/recognition/test_hands_pose.py)."""
    from arkit.recognition.mediapipe_hands import HandTracker

    with HandTracker() as tr:
        assert tr.model_file.name == "hand_landmarker.task"
        r = tr.process(np.zeros((480, 640, 3), np.uint8), Intrinsics(640, 480, 500, 500, 320, 240))
    assert r.trackables == () and r.changes.empty
