"""Face landmarker: metric pose from landmarks / from MediaPipe's matrix, the tracker with fake
Task results, the offline error, scene-file options, and the bundle packed from the legacy wheel."""

import json
import os
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError, SceneFileError
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix
from arkit.core.trackables import TrackableState
from arkit.recognition.face_geometry import (CANONICAL_FACE_M, _GL_TO_CV, _R_MP_FACE, pose_from_landmarks,
                                             pose_from_mediapipe_matrix, synthetic_points)

K = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
R_FRONTAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # face +Y towards the camera


def face_pose(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0, t=(0.0, 0.0, 0.6)):
    """T_camera_face: a frontal face turned about its own axes (Z down = -yaw axis, X = pitch)."""
    R = R_FRONTAL @ rotvec_to_matrix([0, 0, np.deg2rad(yaw_deg)]) @ rotvec_to_matrix([np.deg2rad(pitch_deg), 0, 0]) \
        @ rotvec_to_matrix([0, np.deg2rad(roll_deg), 0])
    return from_rt(R, np.asarray(t, float))


def mesh_px(T_cf, noise_px=0.0, seed=0, n=478):
    """478 landmarks: the canonical points where they belong, the rest scattered around the face."""
    rng = np.random.default_rng(seed)
    px = K.project(synthetic_points(T_cf))
    out = px.mean(axis=0) + rng.normal(0.0, 30.0, (n, 2))
    out[list(CANONICAL_FACE_M)] = px + rng.normal(0.0, noise_px, px.shape)
    return out


# ---------------------------------------------------------------- geometry


@pytest.mark.parametrize("yaw,pitch,roll,t", [(0, 0, 0, (0, 0, 0.6)), (30, -10, 5, (0.1, -0.05, 0.5)),
                                              (-40, 15, -20, (-0.2, 0.1, 1.2))])
def test_pose_from_landmarks_recovers_synthetic_pose(yaw, pitch, roll, t):
    T = face_pose(yaw, pitch, roll, t)
    est = pose_from_landmarks(mesh_px(T), K)
    assert rotation_angle_deg(est[:3, :3], T[:3, :3]) < 1e-4
    np.testing.assert_allclose(est[:3, 3], T[:3, 3], atol=1e-6)
    # with 1 px landmark noise the pose stays within a few degrees / centimetres
    noisy = pose_from_landmarks(mesh_px(T, noise_px=1.0, seed=3), K)
    assert rotation_angle_deg(noisy[:3, :3], T[:3, :3]) < 5.0
    assert np.linalg.norm(noisy[:3, 3] - T[:3, 3]) < 0.05 * T[2, 3]


def test_pose_from_landmarks_bad_input():
    with pytest.raises(ArkitError, match="468"):
        pose_from_landmarks(np.zeros((100, 2)), K)
    lm = mesh_px(face_pose())
    lm[1] = np.nan
    assert pose_from_landmarks(lm, K) is None


def test_pose_from_mediapipe_matrix_matches_true_pose():
    T = face_pose(25, 10, -8, (0.05, 0.02, 0.7))
    # MediaPipe's matrix: canonical face (cm, x left of subject, y up, z out) -> OpenGL camera;
    # its origin is elsewhere in the head (here 9 cm behind arkit's): only the rotation is used
    M = np.eye(4)
    M[:3, :3] = np.linalg.inv(_GL_TO_CV) @ T[:3, :3] @ _R_MP_FACE.T
    M[:3, 3] = 100.0 * (np.linalg.inv(_GL_TO_CV) @ (T[:3, 3] - 0.09 * T[:3, 1]))
    est = pose_from_mediapipe_matrix(M, mesh_px(T), K)
    assert rotation_angle_deg(est[:3, :3], T[:3, :3]) < 1e-6
    np.testing.assert_allclose(est[:3, 3], T[:3, 3], atol=1e-6)
    with pytest.raises(ArkitError, match="4, 4"):
        pose_from_mediapipe_matrix(np.eye(3), mesh_px(T), K)


# ---------------------------------------------------------------- tracker with fake Task results


def _result(faces, w=640, h=480):
    """A FaceLandmarkerResult look-alike; faces: list of (landmarks_px, blendshapes dict, matrix)."""
    return SimpleNamespace(
        face_landmarks=[[SimpleNamespace(x=x / w, y=y / h, z=-0.01) for x, y in px] for px, _, _ in faces],
        face_blendshapes=[[SimpleNamespace(category_name=k, score=v, index=i) for i, (k, v) in enumerate(bs.items())]
                          if bs else [] for _, bs, _ in faces],
        facial_transformation_matrixes=[m for _, _, m in faces if m is not None])


class FakeFaceLandmarker:
    def __init__(self, frames):
        self.frames = list(frames)
        self.calls = []

    def detect(self, img):
        self.calls.append(("image", None))
        return self.frames.pop(0)

    def detect_for_video(self, img, ms):
        self.calls.append(("video", ms))
        return self.frames.pop(0)

    def close(self):
        self.closed = True


def test_face_landmark_tracker_ids_pose_and_blendshapes():
    from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker

    A = face_pose(10, 0, 0, (-0.15, 0.0, 0.6))
    B = face_pose(-20, 5, 0, (0.18, 0.02, 0.8))
    bs = {"jawOpen": 0.7, "eyeBlinkLeft": 0.1}
    frames = [_result([(mesh_px(A), bs, None), (mesh_px(B, seed=1), None, None)]),
              _result([(mesh_px(B, seed=1), None, None)]),
              _result([(mesh_px(B, seed=1), None, None), (mesh_px(A), None, None)])]
    fake = FakeFaceLandmarker(frames)
    tr = FaceLandmarkTracker(landmarker=fake, running_mode="video", blendshapes=True)
    img = np.zeros((480, 640, 3), np.uint8)
    T_wc = from_rt(np.eye(3), [1.0, 0.0, 0.0])
    r1 = tr.process(img, K, T_wc, timestamp_s=0.1)
    assert [t.id for t in r1.trackables] == ["face:0", "face:1"] and r1.changes.added == ("face:0", "face:1")
    f0 = r1.trackables[0]
    assert f0.kind == "face" and f0.state == TrackableState.TRACKING and f0.pose_source == "landmarks"
    assert f0.image_points_px.shape == (478, 2) and f0.depth_px.shape == (478,)
    assert f0.depth_px[0] == pytest.approx(-0.01 * 640)
    assert f0.blendshapes == pytest.approx(bs) and r1.trackables[1].blendshapes is None
    np.testing.assert_allclose(f0.T_world_local, T_wc @ A, atol=1e-6)
    json.dumps(f0.to_dict())  # plain types only
    r2 = tr.process(img, K, T_wc, timestamp_s=0.2)
    assert [t.id for t in r2.trackables] == ["face:1"] and r2.changes.removed == ("face:0",)
    r3 = tr.process(img, K, T_wc, timestamp_s=0.2)  # same timestamp: still strictly increasing for MediaPipe
    assert [t.id for t in r3.trackables] == ["face:1", "face:2"] and r3.changes.added == ("face:2",)
    assert [c[1] for c in fake.calls] == [100, 200, 201]


def test_face_landmark_tracker_uses_the_matrix_and_pauses_on_bad_pose():
    from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker

    T = face_pose(35, -5, 0, (0.0, 0.0, 0.5))
    M = np.eye(4)
    M[:3, :3] = np.linalg.inv(_GL_TO_CV) @ T[:3, :3] @ _R_MP_FACE.T
    lm = mesh_px(T, noise_px=2.0, seed=5)  # noisy landmarks: the matrix gives the exact rotation
    broken = lm.copy()
    broken[[1, 33]] = np.nan
    fake = FakeFaceLandmarker([_result([(lm, None, M)]), _result([(broken, None, None)])])
    tr = FaceLandmarkTracker(landmarker=fake)
    (f,) = tr.process(np.zeros((480, 640, 3), np.uint8), K).trackables
    assert f.pose_source == "matrix" and rotation_angle_deg(f.T_world_local[:3, :3], T[:3, :3]) < 1e-6
    (g,) = tr.process(np.zeros((480, 640, 3), np.uint8), K).trackables
    assert g.id == f.id and g.pose_source == "none" and g.state == TrackableState.PAUSED
    np.testing.assert_allclose(g.T_world_local, f.T_world_local)  # kept at its last pose


def test_face_manager_landmarks_option_and_offline_error(tmp_path, monkeypatch):
    from arkit.core.frame import Frame
    from arkit.core.trackables import CameraState, TrackingState
    from arkit.recognition.managers import FaceManager, build_recognition_managers
    from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker
    from arkit.recognition.models import MissingModelError, spec

    T = face_pose()
    m = FaceManager(landmarks=True, landmarker=FakeFaceLandmarker([_result([(mesh_px(T), None, None)])]))
    out = m.update(Frame(0, 0.0, np.zeros((480, 640, 3), np.uint8), K), CameraState(np.eye(4), TrackingState.TRACKING))
    assert [t.id for t in out.trackables] == ["face:0"] and out.changes.added == ("face:0",)
    m.close()
    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path))
    s = spec("face_landmarker")
    assert s.url.startswith("https://storage.googleapis.com/mediapipe-models/face_landmarker/")
    with pytest.raises(MissingModelError) as e:
        FaceLandmarkTracker()
    msg = str(e.value)
    assert "face_landmarker.task" in msg and s.url in msg and "arkit models fetch face_landmarker" in msg
    assert str(tmp_path / "face_landmarker.task") in msg
    with pytest.raises(MissingModelError):
        build_recognition_managers({"faces": {"landmarks": True, "blendshapes": True}})
    with pytest.raises(MissingModelError, match="face_detector"):  # an empty mapping enables the detector
        build_recognition_managers({"faces": {}})
    assert build_recognition_managers({"faces": False}) == []


def test_scene_file_face_options(tmp_path):
    from arkit.scene.scene_file import load_scene

    p = tmp_path / "s.yaml"
    p.write_text("recognition: {faces: {landmarks: true, blendshapes: true, max_faces: 2}}\n")
    assert load_scene(p).recognition["faces"] == {"landmarks": True, "blendshapes": True, "max_faces": 2}
    p.write_text("recognition: {faces: {blendshapes: true}}\n")
    with pytest.raises(SceneFileError, match="landmarks: true"):
        load_scene(p)
    p.write_text("recognition: {faces: {landmark: true}}\n")
    with pytest.raises(SceneFileError, match="did you mean 'landmarks'"):
        load_scene(p)


# ---------------------------------------------------------------- the real Tasks API on bundles packed from the wheel


@pytest.fixture(scope="module")
def legacy_wheel_path(tmp_path_factory):
    from arkit.recognition import models

    w = os.environ.get("ARKIT_MEDIAPIPE_WHEEL")
    if w and os.path.isfile(w):
        return w
    try:
        return str(models.download_legacy_wheel(tmp_path_factory.mktemp("mpwheel_face")))
    except Exception as e:
        pytest.skip(f"cannot get {models.LEGACY_WHEEL}: {e}")


@pytest.fixture(scope="module")
def megamind():
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
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # 720x528; the face is near (211..352, 185..326)
    h, w = rgb.shape[:2]
    return rgb, Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)


def test_unpadded_legacy_mesh_is_scrambled_by_the_tasks_decoder(legacy_wheel_path, megamind, tmp_path):
    """Why the packed bundle pads the mesh: as is, the legacy model's 468 x 3 outputs are decoded as
    478 landmarks of 1404 / 478 = 2 values (zero depth); and without the geometry metadata the
    matrix output cannot be requested."""
    from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker

    bundle = tmp_path / "raw.task"
    with zipfile.ZipFile(legacy_wheel_path) as zw, zipfile.ZipFile(bundle, "w") as zb:
        zb.writestr("face_detector.tflite", zw.read("mediapipe/modules/face_detection/face_detection_short_range.tflite"))
        zb.writestr("face_landmarks_detector.tflite", zw.read("mediapipe/modules/face_landmark/face_landmark.tflite"))
    rgb, Km = megamind
    with FaceLandmarkTracker(model_path=str(bundle)) as tr:
        assert tr.use_matrix is False  # fell back: no geometry_pipeline_metadata_landmarks.binarypb
        (f,) = tr.process(rgb, Km).trackables
    assert f.image_points_px.shape == (478, 2) and np.all(f.depth_px == 0.0)


def test_face_landmarker_runs_for_real_on_a_face(legacy_wheel_path, megamind, tmp_path, monkeypatch):
    """``import-wheel`` packs face_landmarker_legacy; FaceLandmarkTracker() falls back to it and
    finds the mesh on the Megamind face, with a pose from the canonical-face fit."""
    from arkit.recognition import models
    from arkit.recognition.face_geometry import canonical_points
    from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker

    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path))
    assert set(models.import_from_wheel(legacy_wheel_path, names=["face_landmarker_legacy"])) == {"face_landmarker_legacy"}
    rgb, Km = megamind
    with FaceLandmarkTracker() as tr:
        assert tr.model_file.name == "face_landmarker_legacy.task" and not tr.use_matrix
        assert tr.process(np.zeros((480, 640, 3), np.uint8), K).trackables == ()
        tr.reset()
        (f,) = tr.process(rgb, Km).trackables
    p = f.image_points_px
    assert f.pose_source == "landmarks" and f.state == TrackableState.TRACKING
    mesh = p[:468]
    assert np.all((mesh > (200, 170)) & (mesh < (365, 335)))            # all on the face
    eye_r, eye_l, nose, chin = p[33], p[263], p[1], p[152]
    assert eye_r[0] + 50 < eye_l[0]                                      # image-left eye on the left
    assert max(eye_r[1], eye_l[1]) < nose[1] < p[61][1] < chin[1]        # eyes, nose, mouth, chin downwards
    assert 0.3 * (eye_l[0] - eye_r[0]) < np.linalg.norm(p[61] - p[291]) < 1.2 * (eye_l[0] - eye_r[0])
    assert not np.any(np.isnan(f.depth_px)) and np.ptp(f.depth_px[:468]) > 5.0   # real relative depth
    T = f.T_world_local
    inner = 0.5 * (p[133] + p[362])
    assert np.linalg.norm(Km.project(T[:3, 3][None])[0] - inner) < 6.0  # origin between the eyes
    t = T[:3, 3] / np.linalg.norm(T[:3, 3])
    assert T[:3, 1] @ -t > 0.5                                           # +Y out of the face, towards the camera
    assert T[:3, 0] @ np.r_[(eye_l - eye_r) / np.linalg.norm(eye_l - eye_r), 0.0] > 0.8
    assert 0.3 < T[2, 3] < 2.0
    idx, P = canonical_points()
    fit = Km.project(P @ T[:3, :3].T + T[:3, 3])
    assert np.median(np.linalg.norm(fit - p[idx], axis=1)) < 8.0        # the average face fits this face
