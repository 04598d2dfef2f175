"""ARKitScenes raw scans: a tiny scan written from the dataset's documented layout and read back."""

import shutil

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.pose import invert, matrix_to_rotvec, rotation_angle_deg, rotvec_to_matrix
from arkit.io.readers.arkitscenes import ARKitScenesSource, arkitscenes_traj_to_T_world_camera
from arkit.io.sources import open_source

VIDEO = "41069025"
T0 = 6845.680
K = Intrinsics(64, 48, 52.0, 53.0, 31.7, 23.9)


def true_pose(t):
    """Camera-to-world, OpenCV axes; rotation about one fixed axis so interpolation is exact."""
    T = np.eye(4)
    T[:3, :3] = rotvec_to_matrix([0.0, 0.4 * t, 0.0]) @ rotvec_to_matrix([2.0, 0.3, -0.2])
    T[:3, 3] = [0.5 * t, 1.4, -0.3 * t]
    return T


def traj_line(t_abs, T_world_camera):
    T_cw = invert(T_world_camera)  # the file stores world-to-camera
    return " ".join(f"{v:.9f}" for v in [t_abs, *matrix_to_rotvec(T_cw[:3, :3]), *T_cw[:3, 3]])


def make_scan(root, pattern, n=4):
    fr = root / VIDEO / f"{VIDEO}_frames"
    for d in ("lowres_wide", "lowres_depth", "confidence", "lowres_wide_intrinsics"):
        (fr / d).mkdir(parents=True)
    for i in range(n):
        name = f"{VIDEO}_{T0 + 0.1 * i:.3f}"
        cv2.imwrite(str(fr / "lowres_wide" / f"{name}.png"), cv2.cvtColor(pattern(i, 64, 48), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(fr / "lowres_depth" / f"{name}.png"), np.full((24, 32), 1500 + 20 * i, np.uint16))
        conf = np.full((24, 32), 2, np.uint8)
        conf[:, :3] = 0
        cv2.imwrite(str(fr / "confidence" / f"{name}.png"), conf)
        pincam = name if i != 3 else f"{VIDEO}_{T0 + 0.1 * i + 0.001:.3f}"  # off by 1 ms, as in the dataset
        (fr / "lowres_wide_intrinsics" / f"{pincam}.pincam").write_text(
            f"{K.width} {K.height} {K.fx} {K.fy} {K.cx} {K.cy}\n")
    # trajectory at 20 Hz, 1 ms off the frame times: poses must be interpolated
    lines = [traj_line(T0 + t, true_pose(t)) for t in np.arange(-0.049, 0.1 * n, 0.05)]
    (fr / "lowres_wide.traj").write_text("\n".join(lines) + "\n")
    return root / VIDEO, fr


def test_traj_conversion_is_world_to_camera_inverted():
    T = true_pose(0.7)
    T_cw = invert(T)
    got = arkitscenes_traj_to_T_world_camera(matrix_to_rotvec(T_cw[:3, :3]), T_cw[:3, 3])
    assert np.allclose(got, T, atol=1e-9)
    # a world point in front of the camera (OpenCV z > 0) stays in front
    p_world = T @ np.array([0.1, -0.2, 2.0, 1.0])
    assert (invert(got) @ p_world)[2] == pytest.approx(2.0)


def test_arkitscenes_reader(tmp_path, pattern):
    scan, frames_dir = make_scan(tmp_path, pattern)
    for uri in (scan, frames_dir):
        assert isinstance(open_source(uri), ARKitScenesSource)
    src = ARKitScenesSource(scan)
    assert src.intrinsics == K and src.num_frames == 4 and src.fps == pytest.approx(10)
    frames = list(src)
    assert len(frames) == 4
    for i, f in enumerate(frames):
        assert f.timestamp_s == pytest.approx(T0 + 0.1 * i, abs=1e-6)
        assert f.intrinsics == K
        assert np.array_equal(f.image_rgb, pattern(i, 64, 48))
        expected = true_pose(0.1 * i)
        assert np.allclose(f.T_world_camera_recorded[:3, 3], expected[:3, 3], atol=1e-6)
        assert rotation_angle_deg(f.T_world_camera_recorded, expected) < 1e-4
        assert f.depth_m.shape == (48, 64)  # 32x24 depth resampled to the colour size
        assert f.depth_m[30, 40] == pytest.approx((1500 + 20 * i) / 1000)
        assert np.all(f.depth_m[:, :6] == 0)  # confidence 0 there (min_confidence=1)
        assert f.meta["confidence"].shape == (48, 64) and f.meta["confidence"][0, 0] == 0
    keep_all = next(iter(ARKitScenesSource(scan, min_confidence=0)))
    assert keep_all.depth_m[0, 0] == pytest.approx(1.5)


def test_arkitscenes_bad_inputs(tmp_path, pattern):
    scan, fr = make_scan(tmp_path, pattern)
    (fr / "lowres_depth" / f"{VIDEO}_{T0 + 0.2:.3f}.png").unlink()
    with pytest.warns(UserWarning, match=f"{T0 + 0.2:.3f}.png is missing"):
        assert len(list(ARKitScenesSource(scan))) == 3
    (fr / "lowres_wide.traj").write_text(traj_line(T0, true_pose(0)) + "\n6845.7 0.1 0.2\n")
    with pytest.raises(InputFileError, match=r"lowres_wide.traj:2"):
        ARKitScenesSource(scan)
    (fr / "lowres_wide.traj").unlink()
    assert all(f.T_world_camera_recorded is None for f in ARKitScenesSource(scan, load_depth=False))
    shutil.rmtree(fr / "lowres_depth")
    with pytest.raises(SourceError, match="lowres_depth does not exist"):
        ARKitScenesSource(scan)
    with pytest.raises(SourceError, match="not an ARKitScenes scan"):
        ARKitScenesSource(fr / "lowres_wide")
