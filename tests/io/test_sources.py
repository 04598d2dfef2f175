import warnings

import cv2
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.io import sources
from arkit.io.image_folder_source import ImageFolderSource
from arkit.io.intrinsics_files import save_intrinsics
from arkit.io.source_base import FrameSource
from arkit.io.sources import open_source, register_reader
from arkit.io.tum_rgbd import TumRgbdSource
from arkit.io.video_source import VideoFileSource

K = Intrinsics(128, 96, 100.0, 100.0, 63.5, 47.5)


def test_dispatch_video_folder_glob_tum(tmp_path, make_video, pattern):
    video = make_video("clip.mp4", n=3)
    kfile = save_intrinsics(K, tmp_path / "k.yaml")
    src = open_source(str(video), intrinsics=str(kfile))
    assert isinstance(src, VideoFileSource) and src.intrinsics == K
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), pattern(i))
    assert isinstance(open_source(folder, intrinsics=K), ImageFolderSource)
    g = open_source(str(folder / "*.png"), intrinsics=K, fps=10)
    assert isinstance(g, ImageFolderSource) and g.fps == 10 and len(list(g)) == 3
    with pytest.raises(SourceError, match="does not take the option.*depth_scale.*accepts: .*fps"):
        open_source(folder, intrinsics=K, depth_scale=1000)
    single = open_source(folder / "1.png", intrinsics=K)
    assert len(list(single)) == 1
    (folder / "rgb.txt").write_text("".join(f"{i}.0 {i}.png\n" for i in range(3)))
    tum = open_source(folder, intrinsics=K)
    assert isinstance(tum, TumRgbdSource) and len(list(tum)) == 3


def test_webcam_uris():
    with pytest.raises(SourceError, match="webcam 93"):
        open_source(93)
    with pytest.raises(SourceError, match="webcam 94"):
        open_source("94")


def test_errors_list_what_is_supported(tmp_path):
    with pytest.raises(InputFileError, match="does not exist.*video file"):
        open_source(tmp_path / "nothing.mp4")
    odd = tmp_path / "data.xyz"
    odd.write_text("?")
    with pytest.raises(SourceError, match="unrecognised file type.*TUM RGB-D folder"):
        open_source(odd)
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    with pytest.raises(SourceError, match="fake.mp4"):
        open_source(fake)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    with pytest.raises(SourceError, match="folder without images.*webcam index"):
        open_source(tmp_path / "docs")
    with pytest.raises(SourceError):
        open_source(3.5)
    with pytest.raises(SourceError):
        open_source("")


class _Dummy(FrameSource):
    def __init__(self, uri, scale=1):
        self.uri, self.scale = uri, scale

    @property
    def intrinsics(self):
        return K

    def __iter__(self):
        return iter(())


def test_register_reader_plugs_in(tmp_path):
    calls = []

    def probe(uri):
        calls.append(uri)
        return uri.startswith("dummy:")

    def broken_probe(uri):
        raise RuntimeError("probe bug")

    before = list(sources._READERS)
    try:
        register_reader(broken_probe, _Dummy, name="broken", priority=5)
        register_reader(probe, _Dummy, name="dummy")
        src = open_source("dummy:abc", scale=3)
        assert isinstance(src, _Dummy) and src.uri == "dummy:abc" and src.scale == 3
        with pytest.warns(UserWarning, match="own calibration"):
            open_source("dummy:x", intrinsics=K)  # _Dummy takes no intrinsics
        with pytest.raises(InputFileError, match="dummy recording"):
            open_source(str(tmp_path / "missing"))
        assert "dummy:abc" in calls
        register_reader(probe, _Dummy, name="dummy")  # re-registering replaces
        assert sum(r.name == "dummy" for r in sources._READERS) == 1
    finally:
        sources._READERS[:] = before


def test_reader_modules_import_cleanly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        readers = sources.registered_readers()
    assert all(callable(r.probe) and callable(r.factory) for r in readers)


def test_public_api():
    import arkit

    assert arkit.open_source is open_source
    assert arkit.load_intrinsics is not None
