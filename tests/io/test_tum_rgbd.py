import cv2
import numpy as np
import pytest
import yaml

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, SourceError
from arkit.core.pose import matrix_to_quat_wxyz, rotation_angle_deg
from arkit.io.tum_rgbd import TUM_CAMERAS, TumRgbdSource, is_tum_folder

T0 = 1305031102.0


def true_pose(t):
    """Camera-to-world: constant velocity along x, constant rotation rate about y."""
    a = 0.5 * (t - T0)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[:3, 3] = [0.3 * (t - T0), 0.1, -0.05 * (t - T0)]
    return T


def make_tum(folder, pattern, n=6, size=(64, 48), depth_scale=5000.0, intrinsics=None):
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    rgb_lines, depth_lines = ["# color images", "# timestamp filename"], ["# depth maps"]
    for i in range(n):
        t = T0 + i / 30.0 + 0.0013
        name = f"{t:.6f}.png"
        cv2.imwrite(str(folder / "rgb" / name), cv2.cvtColor(pattern(i, *size), cv2.COLOR_RGB2BGR))
        rgb_lines.append(f"{t:.6f} rgb/{name}")
        td = t + 0.006  # depth is 6 ms later
        d = np.full(size[::-1], (1.0 + 0.1 * i) * depth_scale, np.uint16)
        d[0, 0] = 0
        cv2.imwrite(str(folder / "depth" / f"{td:.6f}.png"), d)
        depth_lines.append(f"{td:.6f} depth/{td:.6f}.png")
    depth_lines.append(f"{T0 + 100:.6f} depth/unmatched.png")
    (folder / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (folder / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    gt = ["# timestamp tx ty tz qx qy qz qw"]
    for k in range(-5, int(n / 30 * 100) + 10):  # 100 Hz, not aligned with the frames
        t = T0 + k / 100.0
        T = true_pose(t)
        w, x, y, z = matrix_to_quat_wxyz(T[:3, :3])
        gt.append(f"{t:.4f} {T[0, 3]:.9f} {T[1, 3]:.9f} {T[2, 3]:.9f} {x:.12f} {y:.12f} {z:.12f} {w:.12f}")
    (folder / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    if intrinsics is not None:
        (folder / "intrinsics.yaml").write_text(yaml.safe_dump(intrinsics.to_dict()))
    return folder


def test_reads_rgb_depth_and_interpolated_poses(tmp_path, pattern):
    K = Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    folder = make_tum(tmp_path / "seq", pattern, intrinsics=K)
    assert is_tum_folder(folder)
    src = TumRgbdSource(folder)
    assert src.intrinsics == K and src.num_frames == 6
    assert src.fps == pytest.approx(30, rel=1e-3)
    frames = list(src)
    assert len(frames) == 6 and src.skipped_frames == 0
    for i, f in enumerate(frames):
        t = T0 + i / 30.0 + 0.0013
        assert f.timestamp_s == pytest.approx(t, abs=1e-6)
        assert np.array_equal(f.image_rgb, pattern(i, 64, 48))
        assert f.depth_m.dtype == np.float32 and f.depth_m[0, 0] == 0
        assert f.depth_m[5, 5] == pytest.approx(1.0 + 0.1 * i, abs=1e-4)
        T_true = true_pose(t)
        assert np.allclose(f.T_world_camera_recorded[:3, 3], T_true[:3, 3], atol=1e-6)
        assert rotation_angle_deg(f.T_world_camera_recorded, T_true) < 1e-4
        assert f.meta["depth_timestamp_s"] == pytest.approx(t + 0.006, abs=1e-6)


def test_missing_image_skipped_with_warning(tmp_path, pattern):
    folder = make_tum(tmp_path / "seq", pattern, intrinsics=Intrinsics(64, 48, 50, 50, 32, 24))
    victim = sorted((folder / "rgb").iterdir())[2]
    victim.unlink()
    broken_depth = sorted((folder / "depth").iterdir())[4]
    broken_depth.write_bytes(b"not a png")
    src = TumRgbdSource(folder)
    with pytest.warns(UserWarning) as record:
        frames = list(src)
    msgs = " ".join(str(w.message) for w in record)
    assert victim.name in msgs and broken_depth.name in msgs
    assert len(frames) == 4 and src.skipped_frames == 2
    assert [f.index for f in frames] == [0, 1, 2, 3]


def test_colour_frames_without_depth_are_dropped(tmp_path, pattern):
    folder = make_tum(tmp_path / "seq", pattern, intrinsics=Intrinsics(64, 48, 50, 50, 32, 24))
    lines = (folder / "depth.txt").read_text().splitlines()
    (folder / "depth.txt").write_text("\n".join(l for k, l in enumerate(lines) if k != 2) + "\n")  # depth of frame 1
    frames = list(TumRgbdSource(folder))
    assert len(frames) == 5
    assert frames[1].timestamp_s == pytest.approx(T0 + 2 / 30 + 0.0013, abs=1e-6)
    assert len(list(TumRgbdSource(folder, load_depth=False))) == 6


def test_depth_scale_and_colour_only(tmp_path, pattern):
    folder = make_tum(tmp_path / "seq", pattern, depth_scale=1000.0, intrinsics=Intrinsics(64, 48, 50, 50, 32, 24))
    f0 = next(iter(TumRgbdSource(folder, depth_scale=1000.0)))
    assert f0.depth_m[5, 5] == pytest.approx(1.0)
    f0 = next(iter(TumRgbdSource(folder, load_depth=False)))
    assert f0.depth_m is None


def test_default_intrinsics_from_folder_name(tmp_path, pattern):
    folder = make_tum(tmp_path / "rgbd_dataset_freiburg2_desk", pattern, size=(640, 480), n=2)
    assert TumRgbdSource(folder).intrinsics == TUM_CAMERAS["fr2"]
    plain = make_tum(tmp_path / "my_capture", pattern, size=(640, 480), n=2)
    with pytest.warns(UserWarning, match="fx=fy=525"):
        K = TumRgbdSource(plain).intrinsics
    assert (K.fx, K.cx, K.cy) == (525.0, 319.5, 239.5)


def test_bad_inputs(tmp_path, pattern):
    with pytest.raises(InputFileError, match="does not exist"):
        TumRgbdSource(tmp_path / "none")
    (tmp_path / "norgb").mkdir()
    with pytest.raises(InputFileError, match="rgb.txt"):
        TumRgbdSource(tmp_path / "norgb")
    folder = make_tum(tmp_path / "seq", pattern)
    with pytest.raises(IntrinsicsError, match="640x480.*64x48"):
        TumRgbdSource(folder, intrinsics=Intrinsics(640, 480, 500, 500, 320, 240))
    (folder / "intrinsics.yaml").write_text("fx: 50\nfy: 50\ncx: 32\nwidth: 64\nheight: 48\n")
    with pytest.raises(IntrinsicsError, match="intrinsics.yaml"):
        TumRgbdSource(folder)
    (folder / "intrinsics.yaml").unlink()
    (folder / "rgb.txt").write_text("# nothing\n")
    with pytest.raises(SourceError, match="lists no frames"):
        TumRgbdSource(folder)
    (folder / "rgb.txt").write_text("12.5 rgb/a.png\nnot-a-time rgb/b.png\n")
    with pytest.raises(InputFileError, match=r"rgb.txt:2"):
        TumRgbdSource(folder)


def test_real_rgbd_frames_in_tum_layout(shared_data, tmp_path):
    """slambook2 has real Kinect frames (color/N.png, depth/N.pgm, pose.txt) but no rgb.txt:
    list them in TUM layout (no copy: absolute paths) and read them back."""
    root = shared_data("slambook2_data", "ch5", "rgbd")
    poses = np.loadtxt(root / "pose.txt")  # tx ty tz qx qy qz qw per frame
    rgb = "".join(f"{i}.0 {root / 'color' / f'{i + 1}.png'}\n" for i in range(5))
    depth = "".join(f"{i}.0 {root / 'depth' / f'{i + 1}.pgm'}\n" for i in range(5))
    gt = "".join(f"{i}.0 " + " ".join(map(str, poses[i])) + "\n" for i in range(5))
    (tmp_path / "rgb.txt").write_text(rgb)
    (tmp_path / "depth.txt").write_text(depth)
    (tmp_path / "groundtruth.txt").write_text(gt)
    K = Intrinsics(640, 480, 518.0, 519.0, 325.5, 253.5)
    frames = list(TumRgbdSource(tmp_path, intrinsics=K, depth_scale=1000.0))
    assert len(frames) == 5
    valid = frames[0].depth_m[frames[0].depth_m > 0]
    assert 0.3 < np.median(valid) < 5.0  # a room seen by a Kinect, in metres
    assert np.allclose(frames[3].T_world_camera_recorded[:3, 3], poses[3, :3])
