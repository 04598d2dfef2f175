import numpy as np
import pytest

from arkit.core.errors import FrameError
from arkit.render import RenderOutput, composite


def _reference(bg, rgba, alpha_scale):
    a = rgba[:, :, 3:4].astype(float) / 255.0 * alpha_scale[:, :, None]
    return bg.astype(float) * (1 - a) + rgba[:, :, :3].astype(float) * a


def _output(H=48, W=64, seed=0):
    rng = np.random.default_rng(seed)
    rgba = np.zeros((H, W, 4), np.uint8)
    depth = np.zeros((H, W), np.float32)
    rgba[10:30, 12:50, :3] = rng.integers(0, 256, (20, 38, 3))
    rgba[10:30, 12:50, 3] = 255
    rgba[10:30, 40:50, 3] = 100  # a translucent strip
    depth[10:30, 12:50] = 1.0
    bg = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
    return bg, RenderOutput(rgba=rgba, depth_m=depth)


def test_plain_blend_matches_float_reference():
    bg, out = _output()
    res = composite(bg, out)
    ref = _reference(bg, out.rgba, np.ones(bg.shape[:2]))
    assert res.dtype == np.uint8 and res.shape == bg.shape
    assert np.abs(res - ref).max() <= 1.01
    assert res is not bg and np.shares_memory(res, bg) is False


def test_background_not_modified_and_empty_overlay_is_identity():
    bg, out = _output()
    before = bg.copy()
    composite(bg, out)
    np.testing.assert_array_equal(bg, before)
    empty = RenderOutput(rgba=np.zeros_like(out.rgba), depth_m=np.zeros_like(out.depth_m))
    np.testing.assert_array_equal(composite(bg, empty), bg)


def test_real_depth_occludes_overlay_with_margin():
    bg, out = _output()
    real = np.zeros(bg.shape[:2], np.float32)
    real[:, :30] = 0.5     # a real object in front of the overlay on the left
    real[:, 30:35] = 0.99  # real surface just in front, within the 2 cm margin: overlay stays
    real[:, 35:] = 2.0     # real surface behind the overlay
    res = composite(bg, out, real_depth_m=real)
    keep = np.ones(bg.shape[:2])
    keep[:, :30] = 0.0
    ref = _reference(bg, out.rgba, keep)
    assert np.abs(res - ref).max() <= 1.01
    np.testing.assert_array_equal(res[10:30, 12:30], bg[10:30, 12:30])
    # with a 0.6 m margin the real object 0.5 m in front no longer counts as occluding
    res2 = composite(bg, out, real_depth_m=real, depth_margin_m=0.6)
    assert np.abs(res2 - _reference(bg, out.rgba, np.ones(bg.shape[:2]))).max() <= 1.01


def test_invalid_real_depth_does_not_occlude():
    bg, out = _output()
    res = composite(bg, out, real_depth_m=np.zeros(bg.shape[:2], np.float32))
    np.testing.assert_array_equal(res, composite(bg, out))


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_occluder_mask(kind):
    bg, out = _output()
    m = np.zeros(bg.shape[:2], np.float32)
    m[:20] = 1.0
    m[20:25] = 0.5
    if kind == "bool":
        m = m >= 1.0
    res = composite(bg, out, occluder_mask=m)
    ref = _reference(bg, out.rgba, 1.0 - m.astype(float))
    assert np.abs(res - ref).max() <= 1.01


def test_shape_mismatch_raises():
    bg, out = _output()
    with pytest.raises(FrameError, match="64x48"):
        composite(bg[:, :32], out)
    with pytest.raises(FrameError):
        composite(bg, out, real_depth_m=np.zeros((10, 10), np.float32))
    with pytest.raises(FrameError):
        composite(bg.astype(np.float32), out)
