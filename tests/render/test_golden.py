"""Golden images with a tolerance.

The PNGs under ``tests/render/golden/`` are only written when the environment variable
``ARKIT_UPDATE_GOLDEN=1`` is set::

    ARKIT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py

Look at the new images before committing them. The comparison is the mean absolute difference
over RGBA (0-255 scale), loose enough for another GL driver (GPU vs llvmpipe) but not for a moved,
mis-shaded or mis-textured overlay.
"""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from arkit.core import Intrinsics
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.render import DrawItem, axes_mesh, box_mesh, quad_mesh, sphere_mesh, text_label_mesh

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ARKIT_UPDATE_GOLDEN") == "1"
K = Intrinsics(160, 120, 140.0, 140.0, 79.5, 59.5)
TOLERANCE = 2.0


def _scene(look_at):
    checker = ((np.indices((64, 64)) // 8).sum(axis=0) % 2 * 200 + 40).astype(np.uint8)
    checker = np.dstack([checker, checker // 2, 255 - checker])
    checker[:16, :16] = (255, 255, 0)  # marks the texture's top-left corner
    items = [
        DrawItem(quad_mesh(0.5, 0.5, texture=checker), np.eye(4)),
        DrawItem(box_mesh((0.1, 0.1, 0.1), [(1, 0, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (0, 0, 1), (1, 1, 0)]),
                 from_rt(rotvec_to_matrix([0, 0.5, 0]), [0.05, 0.05, 0.0])),
        DrawItem(sphere_mesh(0.04, (0.9, 0.9, 0.9), 3), from_rt(t=[-0.12, 0.04, 0.1])),
        DrawItem(axes_mesh(0.1), from_rt(t=[-0.15, 0.001, -0.1])),
        DrawItem(text_label_mesh("arkit", 0.04), from_rt(t=[0.0, 0.002, 0.17])),
        DrawItem(box_mesh((0.08, 0.08, 0.08), (0.2, 0.4, 1.0)), from_rt(t=[0.15, 0.04, 0.12]), opacity=0.5),
    ]
    return items, look_at([0.15, 0.45, 0.5], [0, 0, 0])


def _compare(name, rgba):
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
        pytest.skip(f"wrote {path}")
    assert path.exists(), f"{path} missing: run with ARKIT_UPDATE_GOLDEN=1 to create it"
    ref = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    diff = np.abs(ref.astype(float) - rgba.astype(float)).mean()
    assert diff < TOLERANCE, f"{name}: mean abs diff {diff:.2f} >= {TOLERANCE}"
    return diff


def test_golden_gl(look_at):
    from arkit.core.errors import RendererError
    from arkit.render import GLRenderer

    try:
        r = GLRenderer(K.width, K.height, samples=4)
    except RendererError as e:
        pytest.skip(f"no OpenGL context: {e}")
    with r:
        items, T_wc = _scene(look_at)
        _compare("scene_gl.png", r.render(items, K, T_wc).rgba)


def test_golden_software(look_at):
    from arkit.render import SoftwareRenderer

    with SoftwareRenderer(K.width, K.height) as r:
        items, T_wc = _scene(look_at)
        _compare("scene_software.png", r.render(items, K, T_wc).rgba)


def test_golden_comparison_detects_a_shifted_overlay(look_at):
    """The tolerance is tight enough to notice a 2-pixel shift of the camera's principal point."""
    from arkit.render import SoftwareRenderer

    path = GOLDEN / "scene_software.png"
    if UPDATE or not path.exists():
        pytest.skip("golden images are being regenerated")
    ref = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    shifted = Intrinsics(K.width, K.height, K.fx, K.fy, K.cx + 2.0, K.cy)
    with SoftwareRenderer(K.width, K.height) as r:
        items, T_wc = _scene(look_at)
        rgba = r.render(items, shifted, T_wc).rgba
    assert np.abs(ref.astype(float) - rgba.astype(float)).mean() > TOLERANCE
