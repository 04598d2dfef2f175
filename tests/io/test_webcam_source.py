import pytest

from arkit.core.errors import SourceError
from arkit.io.webcam_source import WebcamSource


def test_missing_device_is_a_clear_error():
    with pytest.raises(SourceError, match="cannot open webcam 97"):
        WebcamSource(97)


def test_bad_index():
    with pytest.raises(SourceError, match="integer"):
        WebcamSource("front")
    with pytest.raises(SourceError, match=">= 0"):
        WebcamSource(-1)


class FakeCapture:
    """Stands in for cv2.VideoCapture: 5 BGR frames, one failed read in the middle."""

    def __init__(self, index):
        self.index, self.reads, self.released = index, 0, False

    def isOpened(self):
        return True

    def set(self, prop, value):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        import numpy as np

        self.reads += 1
        if self.reads == 3:
            return False, None
        if self.reads > 6:
            return False, None
        img = np.zeros((48, 64, 3), np.uint8)
        img[:, :, 0] = 10 * self.reads  # blue channel in BGR
        return True, img

    def release(self):
        self.released = True


def test_frames_from_a_device(monkeypatch):
    import cv2
    import numpy as np

    from arkit.core.camera import Intrinsics

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    monkeypatch.setattr("arkit.io.webcam_source.MAX_CONSECUTIVE_FAILURES", 3)
    src = WebcamSource(0, intrinsics=Intrinsics(64, 48, 60, 60, 32, 24))
    assert src.fps == 30.0 and src.name == "webcam:0"
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [int(f.image_rgb[0, 0, 2]) for f in frames] == [10, 20, 40, 50, 60]  # BGR -> RGB, read 3 failed
    t = [f.timestamp_s for f in frames]
    assert np.all(np.diff(t) >= 0)
    assert src.skipped_frames >= 1
    with pytest.raises(Exception, match="640x480.*64x48"):
        WebcamSource(0, intrinsics=Intrinsics(640, 480, 500, 500, 320, 240))
