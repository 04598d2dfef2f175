"""The GL renderer draws only the overlay's screen rectangle: same image as a full-frame render."""

import numpy as np
import pytest

from arkit.core import Intrinsics
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.render import DrawItem, MeshData, axes_mesh, box_mesh, quad_mesh, text_label_mesh
from arkit.render.base import screen_rect

K = Intrinsics(640, 480, 525.0, 522.0, 321.7, 238.2)


def _marker_content():
    """Like samples/marker_cube: a box, axes and a label on a marker at the world origin."""
    return [
        DrawItem(box_mesh((0.08, 0.08, 0.08), (0.9, 0.27, 0.2)), from_rt(rotvec_to_matrix([0, 0.52, 0]), [0, 0.04, 0])),
        DrawItem(axes_mesh(0.12), np.eye(4)),
        DrawItem(text_label_mesh("marker 3", 0.04), from_rt(t=[0, 0.001, 0.11])),
    ]


def _cameras(look_at):
    return [
        look_at([0.25, 0.5, 0.6], [0, 0, 0]),    # centred, ~10% of the frame
        look_at([0.1, 0.3, 0.35], [0.2, 0, 0]),   # content at the left border, partly outside
        look_at([-0.3, 0.2, 0.4], [0, 0.02, -0.1], up=(0.3, 1.0, 0.0)),  # rolled camera
        look_at([0.02, 1.6, 0.05], [0, 0, 0]),    # far: a small overlay
    ]


@pytest.fixture
def full_frame(monkeypatch):
    """Make the GL renderer draw the whole frame (the reference), restoring it afterwards."""
    import arkit.render.gl_renderer as glr

    def force(on):
        if on:
            monkeypatch.setattr(glr, "screen_rect", lambda items, K, *a, **k: (0, 0, K.width - 1, K.height - 1))
        else:
            monkeypatch.setattr(glr, "screen_rect", screen_rect)
    return force


def test_rect_render_equals_full_frame_render(gl_renderer_640, full_frame, look_at):
    items = _marker_content()
    for T_wc in _cameras(look_at):
        full_frame(True)
        ref = gl_renderer_640.render(items, K, T_wc)
        full_frame(False)
        out = gl_renderer_640.render(items, K, T_wc)
        a_ref, a = ref.rgba[:, :, 3], out.rgba[:, :, 3]
        drawn = int((a_ref > 0).sum())
        assert drawn > 300
        # the GL viewport maths differs in float rounding between framebuffer sizes, so a sample
        # exactly on an edge can fall on the other side: a few pixels change by at most one of
        # the 4 samples (64 levels); a shift or a missing part would change many more
        diff = np.abs(ref.rgba.astype(int) - out.rgba.astype(int))
        assert int(((a_ref > 0) != (a > 0)).sum()) <= max(3, drawn // 500)
        assert int((diff.max(axis=2) > 0).sum()) <= drawn // 20
        assert diff.max() <= 64 and diff.mean() < 0.02
        both = (ref.depth_m > 0) & (out.depth_m > 0)
        assert np.abs(ref.depth_m[both] - out.depth_m[both]).max() < 1e-3
        assert np.array_equal(out.depth_m > 0, a > 0)


def test_screen_rect_contains_every_drawn_pixel(gl_renderer_640, full_frame, look_at):
    full_frame(True)
    for items in (_marker_content(), _marker_content()[:2]):
        for T_wc in _cameras(look_at):
            ref = gl_renderer_640.render(items, K, T_wc)
            ys, xs = np.nonzero(ref.rgba[:, :, 3])
            x0, y0, x1, y1 = screen_rect(items, K, T_wc, 0.01)
            assert x0 <= xs.min() and xs.max() <= x1 and y0 <= ys.min() and ys.max() <= y1
            if len(items) == 2:  # opaque geometry (the label's texture has transparent margins)
                # tight: the 2 px antialiasing margin (plus rounding) around the overlay
                assert (xs.min() - x0 <= 4 or x0 == 0) and (x1 - xs.max() <= 4 or x1 == K.width - 1)
                assert (ys.min() - y0 <= 4 or y0 == 0) and (y1 - ys.max() <= 4 or y1 == K.height - 1)


def test_screen_rect_near_plane_and_behind_camera():
    box = DrawItem(box_mesh((0.1, 0.1, 0.1)), from_rt(t=[0, 0, 0.02]))  # crosses near = 0.01
    assert screen_rect([box], K, np.eye(4), 0.01) == (0, 0, K.width - 1, K.height - 1)
    behind = DrawItem(box_mesh((0.1, 0.1, 0.1)), from_rt(t=[0, 0, -1.0]))
    assert screen_rect([behind], K, np.eye(4), 0.01) is None
    aside = DrawItem(box_mesh((0.1, 0.1, 0.1)), from_rt(t=[5.0, 0, 1.0]))  # projects right of the image
    assert screen_rect([aside], K, np.eye(4), 0.01) is None


def test_outputs_are_read_only_and_never_change_under_the_caller(gl_renderer_640, look_at):
    items, cams = _marker_content(), _cameras(look_at)
    first = gl_renderer_640.render(items, K, cams[0])
    keep_rgba, keep_depth = first.rgba.copy(), first.depth_m.copy()
    with pytest.raises(ValueError):
        first.rgba[0, 0, 0] = 1
    alpha_view = first.rgba[:, :, 3]  # a view keeps the buffer in use too
    del first
    outs = [gl_renderer_640.render(items, K, T) for T in cams[1:] * 3]  # more than the pool holds
    np.testing.assert_array_equal(alpha_view, keep_rgba[:, :, 3])
    for a in outs:
        assert not np.shares_memory(a.rgba, alpha_view)
    del outs
    # recycled buffers come back clean: same image as the first render, nothing left over
    for T in cams[1:] + cams[:1]:
        again = gl_renderer_640.render(items, K, T)
    np.testing.assert_array_equal(again.rgba, keep_rgba)
    np.testing.assert_array_equal(again.depth_m, keep_depth)
    del again
    empty = gl_renderer_640.render([], K, cams[0])
    assert not empty.rgba.any() and not empty.depth_m.any()


def test_framebuffer_cache_is_bounded(gl_renderer_640, look_at):
    from arkit.render import gl_renderer as glr

    item = DrawItem(box_mesh((0.05, 0.05, 0.05)), np.eye(4))
    for d in np.linspace(0.15, 2.0, 25):  # many overlay sizes
        gl_renderer_640.render([item], K, look_at([0.0, d, d], [0, 0, 0]))
    assert 0 < len(gl_renderer_640._fbos) <= glr._FBO_CACHE


def test_single_layer_meshes():
    from arkit.render.base import mesh_is_single_layer as _single_layer

    assert _single_layer(quad_mesh(0.2, 0.1)) and _single_layer(text_label_mesh("x", 0.02))
    assert not _single_layer(box_mesh((0.1, 0.1, 0.1)))
    n = [[0, 0, 1]] * 4
    folded = MeshData([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1]], [[0, 1, 2], [1, 3, 2]], n, (1, 1, 1))
    assert not _single_layer(folded)  # two faces on an edge, but not coplanar
    overlap = MeshData([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0.5, 0]], [[0, 1, 2], [0, 1, 3]], n, (1, 1, 1))
    assert not _single_layer(overlap)  # coplanar, same side of the shared edge


def test_normal_matrix_is_inverse_transpose_up_to_positive_scale():
    from arkit.render.projection import normal_matrix as _normal_matrix

    rng = np.random.default_rng(3)
    for _ in range(50):
        M = rng.normal(size=(3, 3))
        ratio = _normal_matrix(M) / np.linalg.inv(M).T
        assert np.allclose(ratio, ratio[0, 0]) and ratio[0, 0] > 0


def test_the_drawn_box_holds_every_drawn_pixel_and_composites_the_same(gl_renderer_640, look_at):
    from arkit.render import RenderOutput, composite

    items = _marker_content()
    rng = np.random.default_rng(4)
    bg = rng.integers(0, 256, size=(K.height, K.width, 3), dtype=np.uint8)
    real = rng.uniform(0.2, 1.5, size=(K.height, K.width)).astype(np.float32)
    for T_wc in _cameras(look_at) + [look_at([0, 0.2, -3.0], [0, 0.2, -4.0])]:   # the last sees nothing
        out = gl_renderer_640.render(items, K, T_wc)
        rows, cols = out.box
        outside = out.rgba[:, :, 3].copy()
        outside[rows, cols] = 0
        assert not outside.any()
        plain = RenderOutput(out.rgba, out.depth_m)   # no box: the whole frame is scanned
        assert plain.box is None
        for depth in (None, real):
            assert np.array_equal(composite(bg, out, real_depth_m=depth), composite(bg, plain, real_depth_m=depth))
