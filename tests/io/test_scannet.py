"""ScanNet SensReader exports: a tiny scene written from the export layout and read back."""

import shutil
import warnings

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.pose import rotvec_to_matrix
from arkit.io.readers.scannet import (
    ScanNetSource, register_depth_by_intrinsics, scannet_pose_to_T_world_camera,
)
from arkit.io.sources import open_source

K_COLOR = Intrinsics(96, 72, 80.0, 81.0, 47.5, 35.5)
K_DEPTH = Intrinsics(40, 30, 40.0, 40.5, 19.5, 14.5)  # another resolution, narrower field of view


def pose(i):
    T = np.eye(4)
    T[:3, :3] = rotvec_to_matrix([0.1 * i, -0.2 * i, 0.05])
    T[:3, 3] = [0.3 * i, 1.2, -0.4 * i]
    return T


def write_matrix(path, M):
    np.savetxt(path, M, fmt="%.9f")


def make_scannet(root, pattern, n=4):
    for d in ("color", "depth", "pose", "intrinsic"):
        (root / d).mkdir(parents=True)
    Kc4, Kd4 = np.eye(4), np.eye(4)
    Kc4[:3, :3], Kd4[:3, :3] = K_COLOR.K, K_DEPTH.K
    write_matrix(root / "intrinsic" / "intrinsic_color.txt", Kc4)
    write_matrix(root / "intrinsic" / "intrinsic_depth.txt", Kd4)
    write_matrix(root / "intrinsic" / "extrinsic_color.txt", np.eye(4))
    u_d = np.arange(K_DEPTH.width)
    for i in range(n):
        cv2.imwrite(str(root / "color" / f"{i}.jpg"), cv2.cvtColor(pattern(i, 96, 72), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 100])
        depth_mm = np.tile(1000 + 10 * u_d + 100 * i, (K_DEPTH.height, 1)).astype(np.uint16)  # encodes column
        cv2.imwrite(str(root / "depth" / f"{i}.png"), depth_mm)
        M = pose(i) if i != 1 else np.full((4, 4), -np.inf)  # ScanNet marks lost frames with -inf
        if i != 3:
            write_matrix(root / "pose" / f"{i}.txt", M)
    return root


def test_pose_conversion_keeps_valid_and_drops_invalid():
    assert np.array_equal(scannet_pose_to_T_world_camera(pose(2)), pose(2))
    bad = pose(2)
    bad[0] = -np.inf
    assert scannet_pose_to_T_world_camera(bad) is None
    assert scannet_pose_to_T_world_camera(np.eye(3)) is None


def test_register_depth_by_intrinsics_follows_rays():
    d = np.tile(np.arange(K_DEPTH.width, dtype=np.float32) + 1, (K_DEPTH.height, 1))
    out = register_depth_by_intrinsics(d, K_DEPTH, K_COLOR)
    assert out.shape == (72, 96) and out.dtype == np.float32
    for u in (0, 10, 47, 60, 95):
        u_d = round(K_DEPTH.fx * (u - K_COLOR.cx) / K_COLOR.fx + K_DEPTH.cx)
        expected = u_d + 1 if 0 <= u_d < K_DEPTH.width else 0
        assert out[36, u] == expected
    # the same camera at half resolution: a plain nearest-neighbour upsampling
    half = K_COLOR.scaled(48, 36)
    d2 = np.arange(48 * 36, dtype=np.float32).reshape(36, 48)
    assert np.array_equal(register_depth_by_intrinsics(d2, half, K_COLOR)[::2, ::2], d2)


def test_scannet_reader(tmp_path, pattern):
    root = make_scannet(tmp_path / "scene0000_00", pattern)
    src = open_source(root)
    assert isinstance(src, ScanNetSource) and src.num_frames == 4 and src.fps == 30
    assert src.intrinsics == K_COLOR
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        frames = list(src)
    msgs = [str(x.message) for x in w]
    assert sum("-inf" in m for m in msgs) == 1 and any("3.txt is missing" in m for m in msgs)
    assert len(frames) == 4
    for i, f in enumerate(frames):
        assert f.timestamp_s == pytest.approx(i / 30)
        assert np.abs(f.image_rgb.astype(int) - pattern(i, 96, 72).astype(int)).mean() < 3
        if i in (1, 3):
            assert f.T_world_camera_recorded is None
        else:
            assert np.allclose(f.T_world_camera_recorded, pose(i), atol=1e-8)
        assert f.depth_m.shape == (72, 96) and f.depth_m.dtype == np.float32
        u = 50
        u_d = round(K_DEPTH.fx * (u - K_COLOR.cx) / K_COLOR.fx + K_DEPTH.cx)
        assert f.depth_m[30, u] == pytest.approx((1000 + 10 * u_d + 100 * i) / 1000)
        assert f.depth_m[30, 0] == 0  # outside the depth camera's narrower field of view


@pytest.mark.filterwarnings(r"ignore:.*invalid \(-inf\) pose")
def test_scannet_bad_inputs(tmp_path, pattern):
    root = make_scannet(tmp_path / "scene0001_00", pattern, n=3)
    cv2.imwrite(str(root / "depth" / "2.png"), np.full((30, 40), 7, np.uint8))  # 8-bit: wrong format
    with pytest.warns(UserWarning, match=r"2\.png.*uint16"):
        assert len(list(ScanNetSource(root))) == 2
    with pytest.warns(UserWarning, match="depth_scale"):
        list(ScanNetSource(root, depth_scale=1.0, max_frames=1))  # values read as metres: implausible
    (root / "pose" / "0.txt").write_text("1 0 0\n0 1 x\n")
    with pytest.warns(UserWarning, match=r"0\.txt"):
        f0 = next(iter(ScanNetSource(root, load_depth=False)))
    assert f0.T_world_camera_recorded is None
    shutil.rmtree(root / "pose")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pose folder: frames without poses, no warning per frame
        assert [f.T_world_camera_recorded for f in ScanNetSource(root, load_depth=False)] == [None] * 3
    shutil.rmtree(root / "depth")
    with pytest.raises(SourceError, match="depth does not exist"):
        ScanNetSource(root)
    (root / "intrinsic" / "intrinsic_depth.txt").unlink()
    with pytest.raises(SourceError, match="intrinsic_depth.txt"):
        ScanNetSource(root)
    (root / "intrinsic" / "intrinsic_color.txt").write_text("500 0 320\n0 500\n")
    with pytest.raises(InputFileError, match="intrinsic_color.txt"):
        ScanNetSource(root, load_depth=False)
    with pytest.raises(InputFileError, match="does not exist"):
        ScanNetSource(tmp_path / "nope")
