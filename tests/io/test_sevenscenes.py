import numpy as np
import pytest

from arkit.core.errors import SourceError
from arkit.io.readers.sevenscenes import SevenScenesSource, is_sevenscenes_folder


def _write_folder(root, n=3, with_intrinsics=True):
    import cv2

    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(root / f"frame-{i:06d}.color.png"), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
        depth = np.full((480, 640), 1500, np.uint16)
        depth[0, 0] = 0
        depth[0, 1] = 65535
        cv2.imwrite(str(root / f"frame-{i:06d}.depth.png"), depth)
        T = np.eye(4)
        T[0, 3] = 0.1 * i
        np.savetxt(root / f"frame-{i:06d}.pose.txt", T)
    if with_intrinsics:
        np.savetxt(root / "camera-intrinsics.txt", [[500.0, 0, 319.5], [0, 501.0, 239.5], [0, 0, 1]])


def test_reads_a_synthetic_folder(tmp_path):
    _write_folder(tmp_path)
    assert is_sevenscenes_folder(tmp_path)
    src = SevenScenesSource(tmp_path)
    assert src.num_frames == 3 and src.intrinsics.fx == 500.0 and src.intrinsics.fy == 501.0
    frames = list(src)
    f = frames[2]
    assert f.image_rgb.shape == (480, 640, 3) and f.depth_m.dtype == np.float32
    assert f.depth_m[1, 1] == pytest.approx(1.5) and f.depth_m[0, 0] == 0 and f.depth_m[0, 1] == 0
    np.testing.assert_allclose(f.T_world_camera_recorded[:3, 3], [0.2, 0, 0])
    assert f.timestamp_s == pytest.approx(2 / 30.0)
    ts, T = src.ground_truth()
    assert T.shape == (3, 4, 4) and ts.shape == (3,)
    assert len(list(SevenScenesSource(tmp_path, start=1, step=2))) == 1


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        SevenScenesSource(tmp_path / "nope")
    with pytest.raises(SourceError, match="no frame-N.color"):
        SevenScenesSource(tmp_path)
    assert not is_sevenscenes_folder(tmp_path)


def test_default_intrinsics_without_file(tmp_path):
    _write_folder(tmp_path, n=1, with_intrinsics=False)
    assert SevenScenesSource(tmp_path).intrinsics.fx == 585.0


def test_real_redkitchen(shared_data):
    src = SevenScenesSource(shared_data("sevenscenes_redkitchen_a"), stop=2)
    f = next(iter(src))
    assert (f.width, f.height) == (640, 480)
    assert src.intrinsics.fx == 585.0 and src.intrinsics.cx == 320.0
    assert 0.3 < np.median(f.depth_m[f.depth_m > 0]) < 5.0
    R = f.T_world_camera_recorded[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-3)  # KinectFusion poses are near-orthonormal


def test_open_source_recognises_the_folder(tmp_path):
    import arkit

    _write_folder(tmp_path, n=1)
    assert isinstance(arkit.open_source(str(tmp_path)), SevenScenesSource)
