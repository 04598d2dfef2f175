"""Model targets on OpenCV's pose tutorial data (skipped when the real data is absent), and
bad input to the loaders."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError
from arkit.core.pose import transform_points

# refined by self-calibration (benchmarks/recognition_model.py); the tutorial's fx=1578, fy=1772
# are about twice too long for this video
BOX_INTRINSICS = Intrinsics(640, 480, 743.0, 773.0, 320.0, 240.0)


@pytest.fixture(scope="module")
def tutorial_dir():
    from arkit.io.shared_data import shared_data_path

    d = shared_data_path("opencv_samples_data", "pose_box_tutorial")
    if d is None:
        pytest.skip("real data opencv_samples_data/pose_box_tutorial not present (set ARKIT_SHARED_DATA)")
    return d


@pytest.fixture(scope="module")
def box(tutorial_dir):
    from arkit.recognition.model_targets import ModelTarget

    return ModelTarget.from_opencv_tutorial(tutorial_dir / "cookies_ORB.yml", tutorial_dir / "box.ply")


def test_load_tutorial_files(box):
    assert len(box) == 5914 and box.descriptors.dtype == np.uint8 and box.descriptors.shape == (5914, 32)
    # model frame: centre of the top face, +Y up; box 18.9 (X) x 7.5 (Y) x 25.8 (Z) cm
    np.testing.assert_allclose(box.extent_m, [0.189, 0.075, 0.258], atol=1e-6)
    np.testing.assert_allclose(box.bounds_m[1, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(box.bounds_m[:, [0, 2]].sum(axis=0), 0.0, atol=1e-6)
    lo, hi = box.bounds_m
    assert np.all(box.points_m >= lo - 1e-4) and np.all(box.points_m <= hi + 1e-4)
    top = np.abs(box.points_m[:, 1]) < 1e-4
    assert top.sum() > 3000 and np.all(box.normals[top] == [0, 1, 0])
    assert box.mesh_vertices_m.shape == (8, 3) and box.mesh_faces.shape == (12, 3)


def test_detects_and_tracks_box_in_real_frames(box, tutorial_dir):
    import cv2

    from arkit.recognition.model_target_tracker import ModelTargetTracker
    from arkit.recognition.model_targets import edge_alignment_px, visible_box_edges

    cap = cv2.VideoCapture(str(tutorial_dir / "box.mp4"))
    tracker = ModelTargetTracker([box])
    results = []
    for i in range(150):
        ok, bgr = cap.read()
        assert ok
        if i in (0, 1, 2, 149):  # detection on frame 0, tracking on 1-2, detection again after a jump
            if i == 149:
                tracker.reset()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            results.append((i, rgb, tracker.process(rgb, BOX_INTRINSICS)))
    cap.release()
    assert [r.detected for _, _, r in results] == [True, False, False, True]
    for i, rgb, res in results:
        (pose,) = res.poses
        assert pose.n_inliers >= 50 and pose.reprojection_error_px < 3.0
        c = transform_points(pose.T_camera_model, box.corners_m)
        assert np.all(c[:, 2] > 0.2) and np.all(c[:, 2] < 1.5)  # 20 cm .. 1.5 m in front of the camera
        (trk,) = res.trackables
        assert trk.id == "object:box" and trk.kind == "object"
        corners = trk.image_points_px
        assert np.all(corners >= 0) and np.all(corners <= [639, 479])  # the whole box is in view
        d = edge_alignment_px(rgb, corners, visible_box_edges(c, outline_only=True))
        assert len(d) > 50 and np.median(d) <= 3.0, f"frame {i}: outline {np.median(d):.1f} px from image edges"


def test_camera_tracker_treats_the_object_as_the_world(box, tutorial_dir):
    import cv2

    from arkit.core.frame import Frame
    from arkit.core.pose import invert
    from arkit.recognition.model_target_tracker import ModelTargetCameraTracker

    cap = cv2.VideoCapture(str(tutorial_dir / "box.mp4"))
    ok, bgr = cap.read()
    cap.release()
    frame = Frame(0, 0.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), BOX_INTRINSICS)
    cam = ModelTargetCameraTracker(box)
    out = cam.track(frame)
    assert out.camera.is_tracking
    (trk,) = out.trackables
    np.testing.assert_allclose(trk.T_world_local, np.eye(4), atol=1e-12)
    # the camera looks down at the top face: camera above it (+Y) and the top-face centre in front
    T_cw = invert(out.camera.T_world_camera)
    assert out.camera.T_world_camera[1, 3] > 0.1 and transform_points(T_cw, np.zeros((1, 3)))[0, 2] > 0.2
    blank = Frame(1, 0.1, np.zeros_like(frame.image_rgb), BOX_INTRINSICS)
    out2 = cam.track(blank)
    assert out2.camera.tracking_state.value == "LOST" and out2.trackables[0].state.value == "PAUSED"


def test_missing_and_corrupt_feature_files(tmp_path):
    from arkit.recognition.model_targets import read_feature_yml

    with pytest.raises(InputFileError, match="not found"):
        read_feature_yml(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("%YAML:1.0\npoints_3d: [1, 2, oops\n")
    with pytest.raises(InputFileError, match="bad.yml"):
        read_feature_yml(bad)
    other = tmp_path / "other.yml"
    other.write_text("%YAML:1.0\nsomething: 3\n")
    with pytest.raises(InputFileError, match="missing matrix node"):
        read_feature_yml(other)


def test_feature_file_with_wrong_descriptors(tmp_path):
    import cv2

    from arkit.recognition.model_targets import read_feature_yml

    p = tmp_path / "f.yml"
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
    fs.write("points_3d", np.zeros((5, 1, 3), np.float32))
    fs.write("descriptors", np.zeros((4, 32), np.uint8))
    fs.release()
    with pytest.raises(InputFileError, match="32 uint8"):
        read_feature_yml(p)


def test_points_outside_the_mesh_are_rejected(tmp_path):
    import cv2

    from arkit.recognition.model_targets import ModelTarget

    p = tmp_path / "f.yml"
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
    fs.write("points_3d", np.full((10, 1, 3), 500.0, np.float32))
    fs.write("descriptors", np.zeros((10, 32), np.uint8))
    fs.release()
    ply = tmp_path / "box.ply"
    import trimesh

    trimesh.creation.box((10, 10, 10)).export(str(ply))
    with pytest.raises(InputFileError, match="outside the mesh"):
        ModelTarget.from_opencv_tutorial(p, ply)
    with pytest.raises(InputFileError, match="not found"):
        ModelTarget.from_opencv_tutorial(p, tmp_path / "missing.ply")
