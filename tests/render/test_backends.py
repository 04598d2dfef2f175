"""Software vs GL agreement, create_renderer and its fallback, bad input."""

import logging
import warnings

import cv2
import numpy as np
import pytest

from arkit.core import Intrinsics
from arkit.core.errors import RendererError
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.render import (
    DrawItem, SoftwareRenderer, axes_mesh, box_mesh, create_renderer, quad_mesh, sphere_mesh,
    text_label_mesh,
)

K = Intrinsics(640, 480, 520.0, 515.0, 318.3, 243.7)


def _scene(look_at):
    tex = np.zeros((32, 48, 3), np.uint8)
    tex[:, :24] = (250, 200, 40)
    tex[:16] += 5
    items = [
        DrawItem(box_mesh((0.1, 0.1, 0.1), (0.2, 0.6, 0.9)), from_rt(rotvec_to_matrix([0, 0.4, 0]), [0, 0.05, 0])),
        DrawItem(sphere_mesh(0.05, (0.9, 0.4, 0.2), 3), from_rt(t=[0.14, 0.05, 0.02])),
        DrawItem(quad_mesh(0.5, 0.4, texture=tex), np.eye(4)),
        DrawItem(axes_mesh(0.12), from_rt(t=[-0.15, 0.0, 0.1])),
        DrawItem(box_mesh((0.06, 0.06, 0.06), (1, 1, 1)), from_rt(t=[-0.05, 0.03, 0.14]), opacity=0.5),
    ]
    return items, look_at([0.2, 0.45, 0.55], [0, 0, 0])


def test_software_agrees_with_gl(gl_renderer_640, sw_renderer_640, look_at):
    items, T_wc = _scene(look_at)
    gl = gl_renderer_640.render(items, K, T_wc)
    sw = sw_renderer_640.render(items, K, T_wc)
    m_gl, m_sw = gl.rgba[:, :, 3] > 127, sw.rgba[:, :, 3] > 127
    iou = (m_gl & m_sw).sum() / (m_gl | m_sw).sum()
    assert m_gl.sum() > 30000 and iou > 0.98
    both = cv2.erode((m_gl & m_sw).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    dz = np.abs(gl.depth_m[both] - sw.depth_m[both])
    assert np.median(dz) < 0.001 and np.mean(dz < 0.005) > 0.99
    dc = np.abs(gl.rgba[both].astype(int) - sw.rgba[both].astype(int))[:, :3]
    assert dc.mean() < 4.0 and np.mean(dc.max(axis=1) < 20) > 0.97


def test_translucent_item_shows_what_is_behind(gl_renderer_640, sw_renderer_640, look_at):
    T_wc = look_at([0.0, 0.0, 0.6], [0, 0, 0])
    back = DrawItem(quad_mesh(0.3, 0.3, color=(1, 0, 0)), from_rt(rotvec_to_matrix([np.pi / 2, 0, 0]), [0, 0, -0.1]))
    front = DrawItem(quad_mesh(0.1, 0.1, color=(0, 0, 1)), from_rt(rotvec_to_matrix([np.pi / 2, 0, 0])), opacity=0.5)
    for r in (gl_renderer_640, sw_renderer_640):
        for order in ([back, front], [front, back]):  # translucent items are drawn after opaque ones
            out = r.render(order, K, T_wc)
            px = out.rgba[int(K.cy), int(K.cx)].astype(int)
            assert px[3] == 255 and abs(px[0] - 128) <= 3 and abs(px[2] - 128) <= 3 and px[1] == 0
            assert out.depth_m[int(K.cy), int(K.cx)] == pytest.approx(0.6, abs=0.002)


def test_backface_culling_when_single_sided(gl_renderer_640, sw_renderer_640, look_at):
    T_wc = look_at([0.0, -0.5, 0.0001], [0, 0, 0])  # from below: sees the back of a +Y quad
    for r in (gl_renderer_640, sw_renderer_640):
        for double_sided, expect in ((True, 255), (False, 0)):
            q = quad_mesh(0.2, 0.2, color=(0, 1, 0), double_sided=double_sided, unlit=False)
            out = r.render([DrawItem(q, np.eye(4))], K, T_wc)
            assert out.rgba[int(K.cy), int(K.cx), 3] == expect


def test_empty_and_offscreen_items_give_empty_output(gl_renderer_640, sw_renderer_640):
    behind = DrawItem(box_mesh((0.1, 0.1, 0.1)), from_rt(t=[0, 0, -1.0]))
    for r in (gl_renderer_640, sw_renderer_640):
        for items in ([], [behind]):
            out = r.render(items, K, np.eye(4))
            assert out.rgba.shape == (480, 640, 4) and out.rgba.dtype == np.uint8
            assert out.depth_m.shape == (480, 640) and out.depth_m.dtype == np.float32
            assert not out.rgba.any() and not out.depth_m.any()


def test_near_plane_clipping_software_matches_gl(gl_renderer_640, sw_renderer_640):
    # a floor that passes under and behind the camera
    floor = DrawItem(quad_mesh(4.0, 4.0, color=(0.5, 0.5, 0.5), unlit=False), from_rt(t=[0, 0.3, 1.0]))
    gl = gl_renderer_640.render([floor], K, np.eye(4), near=0.05)
    sw = sw_renderer_640.render([floor], K, np.eye(4), near=0.05)
    m_gl, m_sw = gl.rgba[:, :, 3] > 127, sw.rgba[:, :, 3] > 127
    assert m_gl.sum() > 50000
    assert (m_gl & m_sw).sum() / (m_gl | m_sw).sum() > 0.99


def test_labels_render_and_are_readable_side_up(gl_renderer_640, look_at):
    lab = text_label_mesh("AR", 0.05, color=(1, 1, 1), background=(0, 0, 0, 1))
    T_wc = look_at([0.0, 0.5, 0.001], [0, 0, 0], up=(0, 0, -1))  # from above, -Z up on screen
    out = gl_renderer_640.render([DrawItem(lab, np.eye(4))], K, T_wc)
    assert (out.rgba[:, :, 3] == 255).sum() > 1000
    # the texture's top row (label top edge) is at -Z, i.e. the top of the image here
    ys = np.nonzero(out.rgba[:, :, 3] > 0)[0]
    assert ys.min() < K.cy < ys.max()


def test_create_renderer_backends():
    with create_renderer(64, 48, backend="software") as r:
        assert isinstance(r, SoftwareRenderer) and r.backend == "software"
    with pytest.raises(RendererError, match="unknown renderer backend"):
        create_renderer(64, 48, backend="vulkan")


def test_auto_falls_back_to_software_with_a_warning(monkeypatch, caplog):
    import moderngl

    def no_egl(*args, **kwargs):
        raise Exception("eglGetDisplay failed (no EGL here)")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_egl)
    with pytest.raises(RendererError, match="no EGL here"):
        create_renderer(64, 48, backend="gl")
    with caplog.at_level(logging.WARNING, logger="arkit.render"):
        with pytest.warns(RuntimeWarning, match="no EGL here"):
            r = create_renderer(64, 48, backend="auto")
    assert r.backend == "software"
    assert any("no EGL here" in rec.getMessage() for rec in caplog.records)
    out = r.render([DrawItem(box_mesh(), from_rt(t=[0, 0, 0.5]))], Intrinsics(64, 48, 50, 50, 31.5, 23.5), np.eye(4))
    assert out.rgba[24, 32, 3] == 255
    r.close()


def test_auto_gives_gl_when_available(gl_renderer_640):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with create_renderer(32, 24) as r:
            assert r.backend == "gl"


def test_bad_inputs(sw_renderer_640):
    with pytest.raises(RendererError):
        sw_renderer_640.render(["not an item"], K, np.eye(4))
    with pytest.raises(RendererError):
        sw_renderer_640.render([], K, np.eye(4), near=1.0, far=0.5)
    with pytest.raises(RendererError):
        create_renderer(0, 10, backend="software")


def test_gl_render_after_close_raises(gl_renderer_640):
    from arkit.render import GLRenderer

    r = GLRenderer(32, 24)
    r.close()
    r.close()
    with pytest.raises(RendererError):
        r.render([DrawItem(box_mesh(), from_rt(t=[0, 0, 0.5]))], Intrinsics(32, 24, 30, 30, 16, 12), np.eye(4))


def test_gl_mesh_cache_follows_mesh_identity(gl_renderer_640):
    import dataclasses
    import gc

    from arkit.render import GLRenderer

    r = GLRenderer(640, 480)  # its own cache, untouched by other tests' meshes
    T_wc = np.eye(4)
    item_pose = from_rt(t=[0, 0, 0.5])
    red = box_mesh((0.1, 0.1, 0.1), (1, 0, 0), unlit=True)
    out = r.render([DrawItem(red, item_pose)], K, T_wc)
    assert tuple(out.rgba[int(K.cy), int(K.cx)]) == (255, 0, 0, 255)
    # a copy with the same key but other colours must not reuse the cached buffers
    blue = dataclasses.replace(red, colors=np.tile([0.0, 0.0, 1.0, 1.0], (len(red.vertices), 1)))
    assert blue.key == red.key
    out = r.render([DrawItem(blue, item_pose)], K, T_wc)
    assert tuple(out.rgba[int(K.cy), int(K.cx)]) == (0, 0, 255, 255)
    # GPU copies of meshes that were garbage-collected are released at the next frame
    n_before = len(r._meshes)
    tmp = sphere_mesh(0.05, (1, 1, 1), 1)
    r.render([DrawItem(tmp, item_pose)], K, T_wc)
    assert len(r._meshes) == n_before + 1
    del tmp
    gc.collect()
    r.render([], K, T_wc)
    r.render([DrawItem(blue, item_pose)], K, T_wc)
    assert len(r._meshes) == n_before
    r.close()


def test_non_finite_vertices_raise(gl_renderer_640, sw_renderer_640):
    from arkit.render import MeshData

    bad = MeshData([[0, 0, 0], [np.nan, 0, 0], [0, 1, 0]], [[0, 1, 2]], [[0, 0, 1]] * 3, (1, 1, 1))
    for r in (gl_renderer_640, sw_renderer_640):
        with pytest.raises(RendererError, match="non-finite"):
            r.render([DrawItem(bad, from_rt(t=[0, 0, 1.0]))], K, np.eye(4))


def test_depth_wherever_alpha_and_occluded_overlay_leaves_no_edges(gl_renderer_640, sw_renderer_640, look_at):
    from arkit.render import composite

    items, T_wc = _scene(look_at)
    bg = np.full((480, 640, 3), 77, np.uint8)
    wall = np.full((480, 640), 0.2, np.float32)  # a real surface in front of everything
    for r in (gl_renderer_640, sw_renderer_640):
        out = r.render(items, K, T_wc)
        a, d = out.rgba[:, :, 3], out.depth_m
        assert np.array_equal(a > 0, d > 0), (r.backend, int(((a > 0) & (d == 0)).sum()),
                                              int(((a == 0) & (d > 0)).sum()), np.argwhere((a > 0) != (d > 0))[:5])
        np.testing.assert_array_equal(composite(bg, out, real_depth_m=wall), bg)


def test_several_gl_renderers_in_one_process(gl_renderer_640, look_at):
    from arkit.render import GLRenderer

    items, T_wc = _scene(look_at)
    ref = gl_renderer_640.render(items, K, T_wc)
    other = GLRenderer(640, 480)
    other.render(items[:1], K, T_wc)
    mid = gl_renderer_640.render(items, K, T_wc)  # the other context was current
    other.close()
    after = gl_renderer_640.render(items, K, T_wc)
    for out in (mid, after):
        np.testing.assert_array_equal(out.rgba, ref.rgba)
        np.testing.assert_array_equal(out.depth_m, ref.depth_m)
