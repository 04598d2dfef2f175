"""Readers for slambook2-style (color/, depth/, pose.txt) and Open3D/Redwood-style (color/, depth/,
odometry.log) RGB-D folders: fixtures written here, plus the real folders when present."""

import json

import cv2
import numpy as np
import pytest

from arkit.core.errors import InputFileError, SourceError
from arkit.core.pose import matrix_to_quat_wxyz, rotvec_to_matrix
from arkit.io.readers.redwood_rgbd import RedwoodRgbdSource, is_redwood_rgbd_folder, read_redwood_log
from arkit.io.readers.slambook_rgbd import SlambookRgbdSource, is_slambook_rgbd_folder
from arkit.io.sources import open_source


def _poses(n):
    out = []
    for i in range(n):
        T = np.eye(4)
        T[:3, :3] = rotvec_to_matrix([0.1 * i, -0.05 * i, 0.02])
        T[:3, 3] = [0.3 * i, -0.1, 1.0 + 0.05 * i]
        out.append(T)
    return out


def _write_images(folder, n, color_name, depth_name, raw_depth):
    (folder / "color").mkdir(parents=True)
    (folder / "depth").mkdir()
    for i in range(n):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:, :, 2] = 200            # red in BGR order -> must come out as RGB (200, 0, 0)
        cv2.imwrite(str(folder / "color" / color_name(i)), img)
        cv2.imwrite(str(folder / "depth" / depth_name(i)), np.full((48, 64), raw_depth, np.uint16))


@pytest.fixture
def slambook_folder(tmp_path):
    folder = tmp_path / "rgbd"
    _write_images(folder, 3, lambda i: f"{i + 1}.png", lambda i: f"{i + 1}.pgm", 1500)
    lines = []
    for T in _poses(3):
        w, x, y, z = matrix_to_quat_wxyz(T[:3, :3])
        lines.append(" ".join(str(v) for v in [*T[:3, 3], x, y, z, w]))
    (folder / "pose.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def redwood_folder(tmp_path):
    folder = tmp_path / "RGBD"
    _write_images(folder, 3, lambda i: f"{i:05d}.jpg", lambda i: f"{i:05d}.png", 2000)
    text = ""
    for i, T in enumerate(_poses(3)):
        text += f"{i} {i} {i + 1}\n" + "\n".join(" ".join(f"{v:.12g}" for v in row) for row in T) + "\n"
    (folder / "odometry.log").write_text(text)
    K = [[60.0, 0, 0], [0, 61.0, 0], [31.5, 23.5, 1]]        # column-major, as Open3D writes it
    (tmp_path / "camera_test.json").write_text(json.dumps({"width": 64, "height": 48,
                                                           "intrinsic_matrix": sum(K, [])}))
    return folder


def test_slambook_folder_frames_poses_and_depth(slambook_folder):
    assert is_slambook_rgbd_folder(slambook_folder)
    src = open_source(slambook_folder, intrinsics={"width": 64, "height": 48, "fx": 50, "fy": 50, "cx": 31.5, "cy": 23.5})
    assert isinstance(src, SlambookRgbdSource) and src.num_frames == 3
    frames = list(src)
    for f, T in zip(frames, _poses(3)):
        assert np.allclose(f.T_world_camera_recorded, T, atol=1e-9)
        assert f.depth_m.dtype == np.float32 and np.allclose(f.depth_m, 1.5)
        assert tuple(f.image_rgb[0, 0]) == (200, 0, 0)
    assert [f.timestamp_s for f in frames] == pytest.approx([0, 1 / 30, 2 / 30])
    assert frames[0].intrinsics.fx == 50


def test_slambook_default_intrinsics_scale_to_the_image(slambook_folder):
    K = SlambookRgbdSource(slambook_folder).intrinsics
    assert (K.width, K.height) == (64, 48) and K.fx == pytest.approx(518.0 * 64 / 640)


def test_slambook_pose_count_mismatch_is_a_clear_error(slambook_folder):
    (slambook_folder / "pose.txt").write_text("0 0 0 0 0 0 1\n")
    with pytest.raises(InputFileError, match="1 poses for 3"):
        SlambookRgbdSource(slambook_folder)


def test_redwood_folder_frames_poses_and_intrinsics(redwood_folder):
    assert is_redwood_rgbd_folder(redwood_folder) and not is_slambook_rgbd_folder(redwood_folder)
    src = open_source(redwood_folder)
    assert isinstance(src, RedwoodRgbdSource)
    K = src.intrinsics
    assert (K.fx, K.fy, K.cx, K.cy) == (60.0, 61.0, 31.5, 23.5)
    frames = list(src)
    assert len(frames) == 3
    for f, T in zip(frames, _poses(3)):
        assert np.allclose(f.T_world_camera_recorded, T, atol=1e-9)
        assert np.allclose(f.depth_m, 2.0)


def test_redwood_log_errors(tmp_path):
    p = tmp_path / "bad.log"
    p.write_text("0 0 1\n1 0 0 0\n0 1 0 0\n")
    with pytest.raises(InputFileError, match="5 lines per pose"):
        read_redwood_log(p)
    p.write_text("0 0 1\n1 0 0 0\n0 1 x 0\n0 0 1 0\n0 0 0 1\n")
    with pytest.raises(InputFileError, match="not a 4x4"):
        read_redwood_log(p)
    with pytest.raises(SourceError):
        RedwoodRgbdSource(tmp_path)


def test_real_folders_open(shared_data):
    book = list(open_source(shared_data("slambook2_data", "ch5", "rgbd")))
    assert len(book) == 5 and book[0].intrinsics.fx == 518.0
    assert np.linalg.norm(book[1].T_world_camera_recorded[:3, 3] - book[0].T_world_camera_recorded[:3, 3]) > 0.3
    o3d = list(open_source(shared_data("open3d_testdata_2019", "RGBD")))
    assert len(o3d) == 5 and o3d[0].intrinsics.fx == 525.0
    assert np.allclose(o3d[0].T_world_camera_recorded[:3, 3], [2.0, 2.0, -0.3])
    assert 0.5 < np.median(o3d[0].depth_m[o3d[0].depth_m > 0]) < 5.0
