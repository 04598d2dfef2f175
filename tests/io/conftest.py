"""Fixtures for arkit.io tests: small synthetic videos, image folders and TUM folders."""

import numpy as np
import pytest


def _pattern(i: int, w: int = 128, h: int = 96) -> np.ndarray:
    """A frame whose mean brightness encodes ``i`` plus a moving white bar."""
    img = np.full((h, w, 3), (i * 6) % 210 + 20, np.uint8)
    img[10:30, (5 + 3 * i) % (w - 30):(5 + 3 * i) % (w - 30) + 20] = 255
    img[h - 20:, :, 0] = 200  # a red band (checks RGB order)
    return img


@pytest.fixture
def pattern():
    """pattern(i, w=128, h=96) -> (h, w, 3) uint8 test frame number ``i``."""
    return _pattern


@pytest.fixture
def make_video(tmp_path):
    """make_video(name, n, codec="h264", fps=10, size=(128, 96)) -> path of a real video."""
    from arkit.io.video_writer import VideoWriter

    def make(name="clip.mp4", n=20, codec="h264", fps=10.0, size=(128, 96)):
        path = tmp_path / name
        with VideoWriter(path, fps, codec=codec, crf=12) as w:
            for i in range(n):
                w.write(_pattern(i, *size))
        return path

    return make
