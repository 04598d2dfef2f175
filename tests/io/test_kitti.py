import numpy as np
import pytest

from arkit.core.errors import InputFileError, SourceError
from arkit.io.readers.kitti import KittiOdometrySource, is_kitti_folder, read_kitti_calib, read_kitti_poses


def _write_folder(root, n=3, labelled=True):
    import cv2

    (root / "image_0").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "image_0" / f"{i:06d}.png"), np.full((37, 124), 10 * i, np.uint8))
    P0 = "700 0 60 0 0 700 18 0 0 0 1 0"
    P1 = "700 0 60 -380 0 700 18 0 0 0 1 0"
    (root / "calib.txt").write_text(f"P0: {P0}\nP1: {P1}\n" if labelled else f"{P0}\n{P1}\n")
    rows = []
    for i in range(n):
        T = np.eye(4)[:3]
        T[2, 3] = 1.0 * i
        rows.append(" ".join(f"{v:.6e}" for v in T.ravel()))
    (root / "poses.txt").write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("labelled", [True, False])
def test_reads_a_synthetic_sequence(tmp_path, labelled):
    _write_folder(tmp_path, labelled=labelled)
    assert is_kitti_folder(tmp_path)
    src = KittiOdometrySource(tmp_path)
    assert src.num_frames == 3
    K = src.intrinsics
    assert (K.width, K.height, K.fx, K.cx, K.cy) == (124, 37, 700.0, 60.0, 18.0)
    frames = list(src)
    assert frames[2].image_rgb.shape == (37, 124, 3) and frames[2].image_rgb[0, 0, 0] == 20
    np.testing.assert_allclose(frames[2].T_world_camera_recorded[:3, 3], [0, 0, 2.0])
    assert frames[1].timestamp_s == pytest.approx(0.1)
    assert read_kitti_calib(tmp_path / "calib.txt", 1)[0, 3] == -380


def test_bad_inputs(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        KittiOdometrySource(tmp_path / "nope")
    with pytest.raises(SourceError, match="no image folder"):
        KittiOdometrySource(tmp_path)
    (tmp_path / "poses.txt").write_text("1 2 3\n")
    with pytest.raises(InputFileError, match="12 numbers"):
        read_kitti_poses(tmp_path / "poses.txt")


def test_real_sequence(shared_data):
    src = KittiOdometrySource(shared_data("kitti_vo_seq2"), stop=3)
    frames = list(src)
    assert (frames[0].width, frames[0].height) == (1241, 376)
    assert src.intrinsics.fx == pytest.approx(718.856)
    np.testing.assert_allclose(frames[0].T_world_camera_recorded, np.eye(4), atol=1e-6)
    assert frames[2].T_world_camera_recorded[2, 3] > 1.0  # driving forward (+z)
