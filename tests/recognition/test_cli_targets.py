"""Smoke tests of ``arkit targets``."""

import cv2
import numpy as np

from arkit.cli import main
from arkit.recognition.synthetic_targets import random_texture


def test_targets_build_and_info(tmp_path, capsys):
    rng = np.random.default_rng(9)
    src = tmp_path / "imgs"
    src.mkdir()
    cv2.imwrite(str(src / "poster_0.3m.png"), random_texture(rng, 400, 300))
    out = tmp_path / "targets.npz"
    assert main(["targets", "build", str(src), "-o", str(out)]) == 0
    assert out.exists()
    assert main(["targets", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "poster" in text and "0.300" in text


def test_targets_build_low_texture_fails(tmp_path, capsys):
    src = tmp_path / "imgs"
    src.mkdir()
    cv2.imwrite(str(src / "blank_0.2m.png"), np.full((300, 400, 3), 200, np.uint8))
    assert main(["targets", "build", str(src), "-o", str(tmp_path / "t.npz")]) == 2
    assert "blank" in capsys.readouterr().err
