import warnings

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, SourceError
from arkit.io.image_folder_source import ImageFolderSource, natural_key

K = Intrinsics(128, 96, 100.0, 100.0, 63.5, 47.5)


def write_images(folder, pattern, names):
    folder.mkdir(exist_ok=True)
    for i, n in enumerate(names):
        cv2.imwrite(str(folder / n), cv2.cvtColor(pattern(i), cv2.COLOR_RGB2BGR))


def test_natural_order_rgb_and_timestamps(tmp_path, pattern):
    names = ["img1.png", "img2.png", "img10.png", "img11.png"]
    write_images(tmp_path / "f", pattern, names)
    (tmp_path / "f" / "notes.txt").write_text("not an image")
    src = ImageFolderSource(tmp_path / "f", intrinsics=K, fps=5)
    frames = list(src)
    assert [f.meta["file"].split("/")[-1] for f in frames] == names
    assert np.array_equal(frames[2].image_rgb, pattern(2))  # PNG is lossless; RGB order kept
    assert [f.timestamp_s for f in frames] == [0.0, 0.2, 0.4, 0.6]
    assert src.num_frames == 4 and src.fps == 5
    capped = ImageFolderSource(tmp_path / "f", intrinsics=K, max_frames=3)
    assert capped.num_frames == 3 and len(list(capped)) == 3


def test_glob_and_unreadable_images_skipped(tmp_path, pattern):
    write_images(tmp_path, pattern, ["a_0.jpg", "a_1.jpg", "a_2.jpg", "b_0.jpg"])
    (tmp_path / "a_1.jpg").write_bytes(b"broken jpeg")
    src = ImageFolderSource(str(tmp_path / "a_*.jpg"), intrinsics=K)
    with pytest.warns(UserWarning, match="a_1.jpg: cannot read"):
        frames = list(src)
    assert len(frames) == 2 and src.skipped_frames == 1
    assert [f.index for f in frames] == [0, 1]
    assert frames[1].timestamp_s == pytest.approx(2 / 30)  # the skipped file keeps its slot


def test_size_change_skipped_and_intrinsics_checked(tmp_path, pattern):
    write_images(tmp_path, pattern, ["0.png", "1.png"])
    cv2.imwrite(str(tmp_path / "2.png"), np.zeros((50, 60, 3), np.uint8))
    src = ImageFolderSource(tmp_path, intrinsics=K)
    with pytest.warns(UserWarning, match="60x50"):
        assert len(list(src)) == 2
    with pytest.raises(IntrinsicsError, match="640x480.*128x96"):
        ImageFolderSource(tmp_path, intrinsics=Intrinsics(640, 480, 500, 500, 320, 240))
    with pytest.warns(UserWarning, match="no intrinsics given"):
        assert ImageFolderSource(tmp_path).intrinsics.size == (128, 96)


def test_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        ImageFolderSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no image files"):
        ImageFolderSource(tmp_path / "empty")
    with pytest.raises(SourceError, match="no image files"):
        ImageFolderSource(str(tmp_path / "*.png"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SourceError, match="can be read"):
            ImageFolderSource(tmp_path / "bad")


def test_natural_key():
    assert sorted(["f10", "f9", "F1", "f100"], key=natural_key) == ["F1", "f9", "f10", "f100"]


def test_real_image_folder(shared_data):
    folder = shared_data("open3d_testdata_2019", "RGBD", "color")
    src = ImageFolderSource(folder, intrinsics=Intrinsics(640, 480, 525, 525, 319.5, 239.5))
    frames = list(src)
    assert len(frames) == 5 and frames[0].image_rgb.shape == (480, 640, 3)
