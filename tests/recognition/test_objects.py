"""Category detection (MediaPipe ObjectDetector) with fake Task results: ids, 2D boxes, the three
pose sources (depth, plane raycast, assumed distance), the manager, scene options, and the offline
error (the efficientdet_lite0 model is not available offline)."""

from types import SimpleNamespace

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import SceneFileError
from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, PlaneAlignment, PlaneTrackable, TrackingState

K = Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)


def _det(name, score, box):
    x, y, w, h = box
    return SimpleNamespace(categories=[SimpleNamespace(category_name=name, display_name="", score=score, index=0)],
                           bounding_box=SimpleNamespace(origin_x=x, origin_y=y, width=w, height=h), keypoints=[])


class FakeDetector:
    def __init__(self, frames):
        self.frames = list(frames)

    def detect(self, img):
        return SimpleNamespace(detections=self.frames.pop(0))

    def close(self):
        pass


def tracker(frames, **kw):
    from arkit.recognition.mediapipe_objects import ObjectDetector, ObjectTracker

    return ObjectTracker(ObjectDetector(detector=FakeDetector(frames), **kw))


IMG = np.zeros((480, 640, 3), np.uint8)


def test_object_ids_boxes_and_ray_pose():
    cup, cup2, bottle = (100, 200, 60, 80), (400, 210, 50, 70), (250, 100, 40, 120)
    tr = tracker([[_det("cup", 0.9, cup), _det("Bottle", 0.6, bottle), _det("cup", 0.8, cup2)],
                  [_det("cup", 0.85, (405, 212, 50, 70)), _det("cup", 0.7, (102, 198, 60, 80))],
                  [_det("cup", 0.2, cup)]], min_score=0.5)
    r = tr.process(IMG, K)
    assert [t.id for t in r.trackables] == ["object:cup", "object:cup:2", "object:bottle"]
    c = r.trackables[0]
    assert c.kind == "object" and c.category == "cup" and c.score == pytest.approx(0.9)
    assert c.box_xywh_px == cup and c.image_points_px.shape == (4, 2)
    np.testing.assert_allclose(c.image_points_px[2], (160, 280))
    # no depth and no planes: 1 m along the ray through the box centre, facing the camera, upright
    T = c.T_world_local
    assert c.pose_source == "ray" and T[2, 3] == pytest.approx(1.0)
    np.testing.assert_allclose(K.project(T[:3, 3][None])[0], (130, 240), atol=1e-9)
    np.testing.assert_allclose(T[:3, 1], (0, -1, 0))
    np.testing.assert_allclose(T[:3, 2], (0, 0, -1))
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
    # next frame: the two cups keep their ids by overlap although their order changed
    r2 = tr.process(IMG, K)
    assert [t.id for t in r2.trackables] == ["object:cup:2", "object:cup"]
    assert r2.changes.removed == ("object:bottle",) and not r2.changes.added
    # below min_score: dropped
    r3 = tr.process(IMG, K)
    assert r3.trackables == () and set(r3.changes.removed) == {"object:cup", "object:cup:2"}


def test_object_pose_from_depth_and_from_plane():
    from arkit.recognition.mediapipe_objects import object_pose

    box = (300, 200, 40, 40)
    depth = np.zeros((480, 640), np.float32)
    depth[200:240, 300:340] = 2.0
    depth[215:225, 315:325] = 0.0   # holes are ignored
    T_wc = np.eye(4)
    T_wc[:3, 3] = (0.5, 0.0, 0.0)
    T, src = object_pose(box, K, T_wc, depth_m=depth)
    assert src == "depth" and T[2, 3] == pytest.approx(2.0)
    np.testing.assert_allclose(K.project((T[:3, 3] - T_wc[:3, 3])[None])[0], (320, 220), atol=1e-9)
    # a floor 1.2 m below a level camera (OpenCV: +y down): the box's bottom centre ray hits it
    floor_T = np.eye(4)
    floor_T[:3, :3] = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]  # +Y (normal) = camera -y = up
    floor_T[1, 3] = 1.2
    floor = PlaneTrackable("plane:0", "plane", floor_T, alignment=PlaneAlignment.HORIZONTAL_UP,
                           polygon_xz=[[-5, -5], [5, -5], [5, 5], [-5, 5]])
    T, src = object_pose((300, 300, 40, 60), K, np.eye(4), planes=[floor])
    assert src == "plane"
    assert T[1, 3] == pytest.approx(1.2) and T[:3, 1] == pytest.approx((0, -1, 0))
    np.testing.assert_allclose(K.project(T[:3, 3][None])[0], (320, 360), atol=1e-6)  # bottom centre
    assert T[2, 2] < -0.99 and np.linalg.det(T[:3, :3]) == pytest.approx(1.0)       # +Z towards the camera
    # depth wins over planes; an invalid depth patch falls back to the plane
    assert object_pose((300, 300, 40, 60), K, np.eye(4), depth_m=np.zeros((480, 640)), planes=[floor])[1] == "plane"


def test_object_manager_uses_frame_depth_and_category_filter():
    from arkit.recognition.managers import ObjectManager
    from arkit.recognition.mediapipe_objects import ObjectDetector

    frames = [[_det("cup", 0.9, (300, 200, 40, 40)), _det("person", 0.95, (0, 0, 200, 400))]]
    m = ObjectManager(detector=ObjectDetector(detector=FakeDetector(frames), categories=["Cup"]))
    depth = np.full((480, 640), 1.5, np.float32)
    T_wc = np.eye(4)
    T_wc[:3, 3] = (0.0, 0.0, -1.0)
    out = m.update(Frame(0, 0.0, IMG, K, depth_m=depth), CameraState(T_wc, TrackingState.TRACKING))
    (t,) = out.trackables
    assert t.id == "object:cup" and t.pose_source == "depth" and t.T_world_local[2, 3] == pytest.approx(0.5)
    d = t.to_dict()
    assert d["category"] == "cup" and d["pose_source"] == "depth" and d["box_xywh_px"] == [300, 200, 40, 40]
    m.close()


def test_object_detector_offline_error_and_bad_options(tmp_path, monkeypatch):
    from arkit.core.errors import ArkitError
    from arkit.recognition.managers import build_recognition_managers
    from arkit.recognition.mediapipe_objects import ObjectDetector
    from arkit.recognition.models import MissingModelError, spec

    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path))
    s = spec("object_detector")
    assert s.filename == "efficientdet_lite0.tflite"
    assert s.url.startswith("https://storage.googleapis.com/mediapipe-models/object_detector/efficientdet_lite0/")
    with pytest.raises(MissingModelError) as e:
        ObjectDetector()
    assert "arkit models fetch object_detector" in str(e.value) and str(tmp_path / s.filename) in str(e.value)
    with pytest.raises(MissingModelError):
        build_recognition_managers({"objects": {"categories": ["cup"]}})
    with pytest.raises(ArkitError, match="min_score"):
        ObjectDetector(min_score=2.0, detector=FakeDetector([]))


def test_scene_file_object_options(tmp_path):
    from arkit.scene.scene_file import load_scene

    p = tmp_path / "s.yaml"
    p.write_text("recognition: {objects: {categories: [cup, bottle], min_score: 0.4}}\n"
                 "content:\n  - {name: tag, anchor: 'object:cup', label: cup}\n")
    sf = load_scene(p)
    assert sf.recognition["objects"] == {"categories": ["cup", "bottle"], "min_score": 0.4}
    assert sf.scene.bindings()[0][0].trackable_id == "object:cup"
    p.write_text("recognition: {objects: {min_score: 3}}\n")
    with pytest.raises(SceneFileError, match="between 0 and 1"):
        load_scene(p)
    p.write_text("recognition: {objects: {categories: [1, 2]}}\n")
    with pytest.raises(SceneFileError, match="categories"):
        load_scene(p)
