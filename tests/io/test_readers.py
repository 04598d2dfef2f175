"""Recorded-session readers: tiny captures written from each format's public specification."""

import json

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, SourceError
from arkit.core.pose import CV_FROM_GL, invert, matrix_to_quat_wxyz, rotation_angle_deg, rotvec_to_matrix
from arkit.io.readers.euroc import EurocSource
from arkit.io.readers.nerfstudio import NerfstudioSource
from arkit.io.readers.pose_timeline import poses_at
from arkit.io.readers.stray_scanner import StrayScannerSource
from arkit.io.sources import open_source


def body_pose(t):
    T = np.eye(4)
    T[:3, :3] = rotvec_to_matrix([0.1 * t, 0.4 * t, 0.0])
    T[:3, 3] = [1.0 + 0.5 * t, 2.0, 0.2 * t]
    return T


# -- pose lookup ---------------------------------------------------------------------------
def test_poses_at_interpolates_and_respects_tolerance():
    t = np.arange(0.0, 1.0, 0.01)
    T = np.stack([body_pose(x) for x in t])
    q = [0.005, 0.5, 0.9905, 1.5, -0.3]
    out = poses_at(t, T, q, tolerance_s=0.02)
    assert np.allclose(out[0][:3, 3], body_pose(0.005)[:3, 3])
    assert rotation_angle_deg(out[1], body_pose(0.5)) < 1e-6
    assert out[2] is not None and out[3] is None and out[4] is None
    sparse = poses_at([0.0, 1.0], T[[0, 50]], [0.5], tolerance_s=0.02)
    assert sparse == [None]  # 1 s gap: no interpolation across it


# -- EuRoC ---------------------------------------------------------------------------------
T_BS = np.eye(4)
T_BS[:3, :3] = rotvec_to_matrix([0.0, 0.0, np.pi / 2])
T_BS[:3, 3] = [-0.02, -0.06, 0.01]


def make_euroc(root, pattern, n=5):
    cam = root / "mav0" / "cam0"
    (cam / "data").mkdir(parents=True)
    lines = ["#timestamp [ns],filename"]
    t0 = 1403636579763555584
    for i in range(n):
        ns = t0 + i * 50_000_000  # 20 Hz
        cv2.imwrite(str(cam / "data" / f"{ns}.png"), cv2.cvtColor(pattern(i, 64, 48), cv2.COLOR_RGB2GRAY))
        lines.append(f"{ns},{ns}.png")
    (cam / "data.csv").write_text("\n".join(lines) + "\n")
    data = ", ".join(repr(float(v)) for v in T_BS.ravel())
    (cam / "sensor.yaml").write_text(
        "sensor_type: camera\ncomment: test\nT_BS:\n  cols: 4\n  rows: 4\n  data: [" + data + "]\n"
        "rate_hz: 20\nresolution: [64, 48]\ncamera_model: pinhole\nintrinsics: [45.0, 46.0, 31.5, 23.5]\n"
        "distortion_model: radial-tangential\ndistortion_coefficients: [-0.28, 0.07, 0.0002, 1.8e-05]\n")
    gt = root / "mav0" / "state_groundtruth_estimate0"
    gt.mkdir()
    rows = ["#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], "
            "v_RS_R_x [m s^-1], v_RS_R_y [m s^-1], v_RS_R_z [m s^-1]"]
    for k in range(-2, n * 10 + 2):  # 200 Hz, offset by 1 ms from the images
        ns = t0 + k * 5_000_000 + 1_000_000
        t = (ns - t0) / 1e9
        T = body_pose(t)
        q = matrix_to_quat_wxyz(T[:3, :3])
        rows.append(f"{ns}," + ",".join(f"{v:.12f}" for v in [*T[:3, 3], *q, 0.5, 0, 0.2]))
    (gt / "data.csv").write_text("\n".join(rows) + "\n")
    return root, t0


def test_euroc_reader(tmp_path, pattern):
    root, t0 = make_euroc(tmp_path / "V1_01_easy", pattern)
    src = open_source(root)
    assert isinstance(src, EurocSource)
    assert src.intrinsics.size == (64, 48) and src.intrinsics.fx == 45.0 and len(src.intrinsics.dist) == 4
    assert src.fps == pytest.approx(20)
    frames = list(src)
    assert len(frames) == 5
    for i, f in enumerate(frames):
        t = i * 0.05
        assert f.timestamp_s == pytest.approx(t0 / 1e9 + t, abs=1e-6)
        expected = body_pose(t) @ T_BS  # camera-to-world through the body frame
        assert np.allclose(f.T_world_camera_recorded[:3, 3], expected[:3, 3], atol=1e-6)
        assert rotation_angle_deg(f.T_world_camera_recorded, expected) < 1e-4
        gray = cv2.cvtColor(pattern(i, 64, 48), cv2.COLOR_RGB2GRAY)
        assert np.array_equal(f.image_rgb[:, :, 0], gray)
    assert isinstance(open_source(root / "mav0"), EurocSource)
    with pytest.raises(IntrinsicsError, match="640x480"):
        EurocSource(root, intrinsics=Intrinsics(640, 480, 500, 500, 320, 240))
    with pytest.raises(SourceError, match="cam1"):
        EurocSource(root, camera="cam1")


# -- nerfstudio ----------------------------------------------------------------------------
def test_nerfstudio_reader(tmp_path, pattern):
    (tmp_path / "images").mkdir()
    (tmp_path / "depth").mkdir()
    frames, poses_cv = [], []
    for i in range(3):
        T_cv = np.eye(4)
        T_cv[:3, :3] = rotvec_to_matrix([0.0, 0.3 * i, 0.1])
        T_cv[:3, 3] = [0.2 * i, 0.0, -1.0]
        poses_cv.append(T_cv)
        name = f"images/frame_{i + 1:05d}.png"
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(pattern(i, 64, 48), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(tmp_path / f"depth/{i}.png"), np.full((48, 64), 1500 + i, np.uint16))
        frames.append({"file_path": name, "depth_file_path": f"depth/{i}.png",
                       "transform_matrix": (T_cv @ CV_FROM_GL).tolist()})  # OpenGL camera axes
    meta = {"camera_model": "OPENCV", "fl_x": 50.0, "fl_y": 51.0, "cx": 32.0, "cy": 24.0, "w": 64, "h": 48,
            "k1": 0.01, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames[::-1]}  # unsorted on purpose
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    src = open_source(tmp_path)
    assert isinstance(src, NerfstudioSource)
    assert src.intrinsics == Intrinsics(64, 48, 50, 51, 32, 24, (0.01, 0, 0, 0))
    out = list(src)
    assert [f.meta["file"] for f in out] == [fr["file_path"] for fr in frames]
    for i, f in enumerate(out):
        assert np.allclose(f.T_world_camera_recorded, poses_cv[i])
        # OpenGL cameras look down -z: a point 2 m in front must have OpenCV camera z = +2
        p_world = (T_cv_gl := np.asarray(frames[i]["transform_matrix"])) @ np.array([0, 0, -2.0, 1])
        p_cam = invert(f.T_world_camera_recorded) @ p_world
        assert p_cam[2] == pytest.approx(2.0) and T_cv_gl.shape == (4, 4)
        assert f.depth_m[3, 3] == pytest.approx((1500 + i) / 1000)
        assert np.array_equal(f.image_rgb, pattern(i, 64, 48))
    assert isinstance(open_source(tmp_path / "transforms.json"), NerfstudioSource)


def test_nerfstudio_bad_inputs(tmp_path, pattern):
    (tmp_path / "transforms.json").write_text('{"frames": [{"file_path": "a.png"}]}')
    with pytest.raises(InputFileError, match="transform_matrix"):
        NerfstudioSource(tmp_path)
    (tmp_path / "transforms.json").write_text('{"fl_x": 50, "w": 64, "h": 48, "frames": [{"file_path": "a.png",'
                                              ' "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}]}')
    src = NerfstudioSource(tmp_path)
    with pytest.warns(UserWarning, match="a.png is missing"):
        assert list(src) == []
    (tmp_path / "transforms.json").write_text('{"frames": [ broken')
    with pytest.raises(InputFileError, match="not valid JSON"):
        NerfstudioSource(tmp_path)


# -- Stray Scanner -------------------------------------------------------------------------
def make_stray(folder, pattern, n=6):
    from arkit.io.video_writer import VideoWriter

    folder.mkdir()
    (folder / "depth").mkdir()
    (folder / "confidence").mkdir()
    with VideoWriter(folder / "rgb.mp4", 30, crf=10) as w:
        for i in range(n):
            w.write(pattern(i, 64, 48))
    np.savetxt(folder / "camera_matrix.csv", np.array([[50.0, 0, 32], [0, 50, 24], [0, 0, 1]]), delimiter=",")
    lines = ["timestamp, frame, x, y, z, qx, qy, qz, qw"]
    poses = []
    for i in range(n):
        T = body_pose(i / 30)
        poses.append(T)
        w_, x, y, z = matrix_to_quat_wxyz(T[:3, :3])
        lines.append(f"{100 + i / 30:.6f}, {i:06d}, {T[0, 3]}, {T[1, 3]}, {T[2, 3]}, {x}, {y}, {z}, {w_}")
        d = np.full((24, 32), 2000 + 10 * i, np.uint16)
        c = np.full((24, 32), 2, np.uint8)
        c[:, :4] = 0
        cv2.imwrite(str(folder / "depth" / f"{i:06d}.png"), d)
        cv2.imwrite(str(folder / "confidence" / f"{i:06d}.png"), c)
    (folder / "odometry.csv").write_text("\n".join(lines) + "\n")
    return poses


def test_stray_scanner_reader(tmp_path, pattern):
    poses = make_stray(tmp_path / "71de12f9", pattern)
    src = open_source(tmp_path / "71de12f9")
    assert isinstance(src, StrayScannerSource) and src.num_frames == 6
    frames = list(src)
    assert len(frames) == 6
    for i, f in enumerate(frames):
        assert f.timestamp_s == pytest.approx(100 + i / 30, abs=1e-6)
        assert np.allclose(f.T_world_camera_recorded, poses[i], atol=1e-6)
        assert f.depth_m.shape == (48, 64)  # upsampled to the colour size
        assert f.depth_m[20, 40] == pytest.approx((2000 + 10 * i) / 1000)
        assert np.all(f.depth_m[:, :8] == 0)  # low confidence removed
        assert np.abs(f.image_rgb.astype(int) - pattern(i, 64, 48).astype(int)).mean() < 6
    small = StrayScannerSource(tmp_path / "71de12f9", resize_to=(32, 24), min_confidence=0)
    f0 = next(iter(small))
    assert f0.image_rgb.shape == (24, 32, 3) and small.intrinsics.fx == pytest.approx(25.0)
    assert f0.depth_m[0, 0] == pytest.approx(2.0)
    (tmp_path / "71de12f9" / "depth" / "000003.png").unlink()
    with pytest.warns(UserWarning, match="000003.png"):
        assert len(list(StrayScannerSource(tmp_path / "71de12f9"))) == 5
