"""Hand / body-pose trackables and the pinch gesture.

The landmarker models are ``.task`` bundles that are not available offline, so the tracker
logic is tested with fake landmarker results; the hand landmarker is additionally LOADED (and
run on a blank frame) from a bundle packed in the test from the mediapipe==0.10.21 wheel.
"""

import os
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.recognition.gestures import PinchDetector, palm_size, pinch_distance, pinch_point

K = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)


def right_palm_px(centre=(320.0, 260.0), scale=100.0, pinch=False):
    """A right hand, palm towards the camera, fingers up (pixels): thumb on the image right."""
    cx, cy = centre
    p = np.zeros((21, 2))
    p[0] = (0.0, 1.0)                                               # wrist
    p[1:5] = [(0.3, 0.8), (0.5, 0.6), (0.65, 0.4), (0.75, 0.2)]      # thumb, tip 4
    for f, x in enumerate((0.35, 0.0, -0.3, -0.55)):                 # index, middle, ring, pinky
        mcp = 5 + 4 * f
        p[mcp:mcp + 4] = [(x, 0.0), (x, -0.35), (x, -0.6), (x, -0.8)]
    if pinch:
        p[8] = p[4] + (0.05, 0.0)
    return p * scale + (cx, cy)


# ---------------------------------------------------------------- gestures


def test_pinch_distance_open_vs_pinch_and_invariance():
    open_d = pinch_distance(right_palm_px())
    pinch_d = pinch_distance(right_palm_px(pinch=True))
    assert open_d > 0.8 and pinch_d < 0.1
    assert palm_size(right_palm_px(scale=50.0)) == pytest.approx(50.0)
    # scale, rotation and translation do not change the normalised distance
    a = np.deg2rad(37.0)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = right_palm_px() @ R.T * 2.5 + (17.0, -40.0)
    assert pinch_distance(moved) == pytest.approx(open_d, rel=1e-9)
    # 3-D points (e.g. world landmarks in metres) work too
    p3 = np.c_[right_palm_px(scale=0.01), np.zeros(21)]
    assert pinch_distance(p3) == pytest.approx(open_d, rel=1e-9)
    assert np.allclose(pinch_point(right_palm_px(pinch=True)), right_palm_px(pinch=True)[[4, 8]].mean(axis=0))


def test_pinch_bad_input():
    with pytest.raises(ArkitError, match="shape"):
        pinch_distance(np.zeros((20, 2)))
    with pytest.raises(ArkitError):
        PinchDetector(start_below=0.5, end_above=0.3)
    assert pinch_distance(np.zeros((21, 2))) == np.inf
    det = PinchDetector()
    assert det.update(np.full((21, 2), np.nan)).state == "none"


def _hand_with_distance(d):
    """Right hand whose thumb-index distance is ``d`` palm sizes (palm = 100 px)."""
    p = right_palm_px()
    p[8] = p[4] + (0.0, -100.0 * d)
    return p


def test_pinch_detector_hysteresis_on_noisy_sequence():
    rng = np.random.default_rng(7)
    # open -> closing -> pinch -> hovering between thresholds (noisy) -> open
    target = np.r_[np.full(5, 1.0), np.linspace(1.0, 0.1, 6), np.full(5, 0.1), np.full(20, 0.32), np.full(5, 0.9)]
    d = np.clip(target + rng.normal(0.0, 0.03, target.size), 0.0, None)
    det = PinchDetector(0.25, 0.4)
    states = [det.update(_hand_with_distance(x)).state for x in d]
    assert states.count("started") == 1 and states.count("ended") == 1
    s, e = states.index("started"), states.index("ended")
    assert 5 <= s < 16 and e >= 36                       # held all through the noisy band
    assert all(st == "held" for st in states[s + 1:e])
    assert all(st == "none" for st in states[:s] + states[e + 1:])
    # the same noisy band from an open hand never starts a pinch
    det2 = PinchDetector(0.25, 0.4)
    band = np.clip(0.32 + rng.normal(0.0, 0.02, 30), 0.26, None)
    assert all(det2.update(_hand_with_distance(x)).state == "none" for x in band)


def test_pinch_ends_when_hand_lost_and_reports_point():
    det = PinchDetector()
    ev = det.update(right_palm_px(pinch=True))
    assert ev.state == "started" and ev.pinching
    assert np.allclose(ev.point_px, right_palm_px(pinch=True)[[4, 8]].mean(axis=0))
    lost = det.update(None)
    assert lost.state == "ended" and not lost.pinching and np.allclose(lost.point_px, ev.point_px)
    assert det.update(None).state == "none"


# ---------------------------------------------------------------- hand tracker with a fake landmarker


def _lm(points_px, w=640, h=480):
    return [SimpleNamespace(x=x / w, y=y / h, z=0.0) for x, y in points_px]


class FakeHandLandmarker:
    def __init__(self, frames):
        self.frames = list(frames)  # per call: list of (label, points_px)
        self.calls = []

    def _result(self):
        hands = self.frames.pop(0)
        return SimpleNamespace(
            handedness=[[SimpleNamespace(category_name=lab, display_name=lab, score=0.9, index=0)] for lab, _ in hands],
            hand_landmarks=[_lm(p) for _, p in hands],
            hand_world_landmarks=[])

    def detect(self, img):
        self.calls.append(("image", None))
        return self._result()

    def detect_for_video(self, img, ms):
        self.calls.append(("video", ms))
        return self._result()

    def close(self):
        pass


def _mirror(p, w=640):
    q = p.copy()
    q[:, 0] = w - 1 - q[:, 0]
    return q


def test_hand_tracker_ids_handedness_pinch_and_pose():
    from arkit.recognition.mediapipe_hands import HandTracker

    right_open = right_palm_px((420.0, 260.0))
    right_pinch = right_palm_px((420.0, 260.0), pinch=True)
    left_open = _mirror(right_palm_px((420.0, 260.0)))       # a left palm facing the camera
    frames = [[("Right", right_open), ("Left", left_open)],
              [("Right", right_pinch), ("Left", left_open)],
              [("Left", left_open)]]
    img = np.zeros((480, 640, 3), np.uint8)
    tr = HandTracker(landmarker=FakeHandLandmarker(frames))
    r1 = tr.process(img, K)
    assert [t.id for t in r1.trackables] == ["hand:right", "hand:left"]
    assert [t.handedness for t in r1.trackables] == ["right", "left"]
    assert r1.changes.added == ("hand:right", "hand:left") and not r1.changes.removed
    assert not any(t.pinching for t in r1.trackables)
    right = r1.trackables[0]
    assert right.kind == "hand" and right.image_points_px.shape == (21, 2) and right.score == pytest.approx(0.9)
    assert np.allclose(right.image_points_px, right_open, atol=1e-6)
    # coarse pose: depth from the 100 px palm and 0.08 m, palm centre reprojects onto its pixel
    T = right.T_world_local
    assert T[2, 3] == pytest.approx(600.0 * 0.08 / 100.0, rel=1e-6)
    assert np.allclose(K.project(T[:3, 3][None])[0], right_open[[0, 5, 9, 13, 17]].mean(axis=0), atol=1e-6)
    # +Y out of the palm (towards the camera), +Z towards the fingers (image up), for both hands
    for t in r1.trackables:
        R = t.T_world_local[:3, :3]
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0)
        assert R[2, 1] < -0.99 and R[1, 2] < -0.99

    r2 = tr.process(img, K)
    right2 = r2.trackables[0]
    assert right2.pinching and right2.pinch_state == "started" and r2.pinch_events["hand:right"].state == "started"
    assert np.allclose(right2.pinch_point_px, right_pinch[[4, 8]].mean(axis=0), atol=1e-6)
    assert not r2.trackables[1].pinching
    assert set(r2.changes.updated) == {"hand:right", "hand:left"} and not r2.changes.added

    r3 = tr.process(img, K)
    assert [t.id for t in r3.trackables] == ["hand:left"]
    assert r3.changes.removed == ("hand:right",)
    assert r3.pinch_events["hand:right"].state == "ended"
    d = r3.trackables[0].to_dict()
    assert d["kind"] == "hand" and d["handedness"] == "left" and d["pinching"] is False


def test_hand_tracker_world_pose_duplicates_and_video_mode():
    from arkit.recognition.mediapipe_hands import HandTracker

    p = right_palm_px()
    fake = FakeHandLandmarker([[("Right", p), ("Right", p + (5.0, 0.0))]])
    tr = HandTracker(landmarker=fake, running_mode="video")
    T_wc = np.eye(4)
    T_wc[:3, 3] = (1.0, 2.0, 3.0)
    r = tr.process(np.zeros((480, 640, 3), np.uint8), K, T_wc, timestamp_s=0.5)
    assert [t.id for t in r.trackables] == ["hand:right", "hand:right:2"]
    assert fake.calls == [("video", 500)]
    assert r.trackables[0].T_world_local[2, 3] == pytest.approx(3.0 + 0.48, rel=1e-6)
    with pytest.raises(ValueError):
        HandTracker(landmarker=fake, running_mode="live")


# ---------------------------------------------------------------- body pose with a fake landmarker


def test_body_tracker_from_fake_result():
    from arkit.recognition.mediapipe_pose import BodyPoseTracker

    px = np.full((33, 2), 300.0)
    px[11], px[12] = (360.0, 200.0), (280.0, 200.0)    # left / right shoulder (subject faces the camera)
    px[23], px[24] = (350.0, 300.0), (290.0, 300.0)    # hips: torso 100 px
    world = np.zeros((33, 3))
    world[11], world[12] = (0.2, -0.5, 0.0), (-0.2, -0.5, 0.0)
    world[23], world[24] = (0.15, 0.0, 0.0), (-0.15, 0.0, 0.0)    # torso 0.5 m, y down (camera-like)
    res = SimpleNamespace(
        pose_landmarks=[[SimpleNamespace(x=x / 640, y=y / 480, z=0.0, visibility=0.8) for x, y in px]],
        pose_world_landmarks=[[SimpleNamespace(x=a, y=b, z=c) for a, b, c in world]])
    fake = SimpleNamespace(detect=lambda img: res, close=lambda: None)
    r = BodyPoseTracker(landmarker=fake).process(np.zeros((480, 640, 3), np.uint8), K)
    (b,) = r.trackables
    assert b.id == "body:0" and b.kind == "body" and b.image_points_px.shape == (33, 2)
    assert r.changes.added == ("body:0",) and b.visibility[0] == pytest.approx(0.8)
    T = b.T_world_local
    assert T[2, 3] == pytest.approx(600.0 * 0.5 / 100.0, rel=1e-6)
    assert np.allclose(K.project(T[:3, 3][None])[0], (320.0, 300.0), atol=1e-6)
    assert T[1, 1] < -0.99 and T[2, 2] < -0.99       # +Y up the spine, +Z out of the chest (towards camera)


# ---------------------------------------------------------------- models: missing / loading


def test_missing_models_raise_clear_error(tmp_path, monkeypatch):
    from arkit.recognition.managers import build_recognition_managers
    from arkit.recognition.mediapipe_hands import HandTracker
    from arkit.recognition.mediapipe_pose import BodyPoseTracker
    from arkit.recognition.models import MissingModelError

    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path))
    with pytest.raises(MissingModelError, match="hand_landmarker.*arkit models fetch hand_landmarker"):
        HandTracker()
    with pytest.raises(MissingModelError, match="pose_landmarker_lite.task"):
        BodyPoseTracker()
    with pytest.raises(MissingModelError):
        build_recognition_managers({"hands": True})
    with pytest.raises(MissingModelError):
        build_recognition_managers({"body_pose": True})


def test_scene_file_accepts_hands_and_body_pose(tmp_path):
    from arkit.scene.scene_file import load_scene

    p = tmp_path / "s.yaml"
    p.write_text("name: t\nrecognition: {hands: true, body_pose: false}\ncontent: []\n")
    sf = load_scene(p)
    assert sf.recognition == {"hands": True, "body_pose": False}


@pytest.fixture(scope="module")
def legacy_wheel(tmp_path_factory):
    from arkit.recognition import models

    w = os.environ.get("ARKIT_MEDIAPIPE_WHEEL")
    if w and os.path.isfile(w):
        return w
    try:
        return str(models.download_legacy_wheel(tmp_path_factory.mktemp("mpwheel")))
    except Exception as e:
        pytest.skip(f"cannot get {models.LEGACY_WHEEL} to pack a hand bundle: {e}")


@pytest.fixture(scope="module")
def hand_bundle(legacy_wheel, tmp_path_factory):
    """A HandLandmarker ``.task`` bundle packed from the wheel's palm detector + hand landmark model."""
    bundle = tmp_path_factory.mktemp("hand_bundle") / "hand_landmarker.task"
    with zipfile.ZipFile(legacy_wheel) as zw, zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as zb:
        zb.writestr("hand_detector.tflite", zw.read("mediapipe/modules/palm_detection/palm_detection_full.tflite"))
        zb.writestr("hand_landmarks_detector.tflite", zw.read("mediapipe/modules/hand_landmark/hand_landmark_full.tflite"))
    return bundle


def test_hand_landmarker_loads_from_bundle_packed_from_wheel(hand_bundle):
    """Loads and runs: a blank frame has no hands."""
    from arkit.recognition.mediapipe_hands import HandTracker

    with HandTracker(model_path=str(hand_bundle)) as tr:
        r = tr.process(np.zeros((480, 640, 3), np.uint8), K)
    assert r.trackables == () and r.changes.empty


def test_hand_landmarker_finds_real_hands(hand_bundle, shared_data):
    """box.mp4 (OpenCV sample): a hand holds the box in frames 90 and 420 (checked by eye)."""
    import cv2

    from arkit.recognition.mediapipe_hands import HandTracker

    video = shared_data("opencv_samples_data", "pose_box_tutorial", "box.mp4")
    cap = cv2.VideoCapture(str(video))
    frames = {}
    for i in range(421):
        ok, bgr = cap.read()
        if not ok:
            pytest.skip(f"cannot read frame {i} of {video}")
        if i in (90, 420):
            frames[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    cap.release()
    with HandTracker(model_path=str(hand_bundle), min_confidence=0.3) as tr:
        for i, rgb in frames.items():
            tr.reset()
            r = tr.process(rgb, K)
            assert len(r.trackables) == 1, f"frame {i}: {len(r.trackables)} hands"
            t = r.trackables[0]
            pts = t.image_points_px
            assert t.id in ("hand:left", "hand:right") and t.score > 0.3
            assert np.all((pts >= -20) & (pts <= (660, 500)))
            # a hand, not a blob: the wrist-to-middle-MCP length is a sane fraction of the image
            assert 15.0 < np.linalg.norm(pts[9] - pts[0]) < 240.0
            assert 0.2 < t.T_world_local[2, 3] < 3.0


def test_hand_and_pose_managers_with_fake_landmarkers():
    from arkit.core.frame import Frame
    from arkit.core.trackables import CameraState, TrackingState
    from arkit.recognition.managers import HandManager, PoseManager

    T_wc = np.eye(4)
    T_wc[0, 3] = 2.0
    cam = CameraState(T_wc, TrackingState.TRACKING)
    frame = Frame(0, 0.25, np.zeros((480, 640, 3), np.uint8), K)
    fake = FakeHandLandmarker([[("Left", _mirror(right_palm_px(pinch=True)))]])
    hm = HandManager(landmarker=fake, running_mode="video")
    out = hm.update(frame, cam)
    (t,) = out.trackables
    assert t.id == "hand:left" and t.pinching and out.changes.added == ("hand:left",)
    assert fake.calls == [("video", 250)]
    centre_cam = K.unproject(t.image_points_px[[0, 5, 9, 13, 17]].mean(axis=0)[None])[0] * 0.48
    assert t.T_world_local[0, 3] == pytest.approx(2.0 + centre_cam[0], rel=1e-9)
    empty = SimpleNamespace(pose_landmarks=[], pose_world_landmarks=[])
    pm = PoseManager(landmarker=SimpleNamespace(detect=lambda img: empty, close=lambda: None))
    assert pm.update(frame, cam).trackables == ()
    hm.close()
    pm.close()


def test_hand_world_landmarks_drive_pinch_and_orientation():
    """With world landmarks (metres), pinch and palm normal come from 3-D, not from the image."""
    from arkit.recognition.mediapipe_hands import HandObservation, HandTracker

    px = right_palm_px(pinch=True)                     # in the image the tips overlap ...
    world = np.c_[right_palm_px(centre=(0.0, 0.0), scale=0.01), np.zeros(21)]
    world[8, 2] = -0.06                                # ... but the index tip is 6 cm nearer the camera
    tr = HandTracker(landmarker=SimpleNamespace(close=lambda: None))
    (t,) = tr.from_observations([HandObservation(px, "right", 0.9, world)], K).trackables
    assert not t.pinching and t.pinch_state == "none"
    # tilt the world hand 40 degrees about the camera x axis: the palm normal follows
    a = np.deg2rad(40.0)
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    tilted = np.c_[right_palm_px(centre=(0.0, 0.0), scale=0.01), np.zeros(21)] @ Rx.T
    (t2,) = tr.from_observations([HandObservation(right_palm_px(), "right", 0.9, tilted)], K).trackables
    assert np.allclose(t2.T_world_local[:3, 1], Rx @ np.array([0.0, 0.0, -1.0]), atol=1e-9)
