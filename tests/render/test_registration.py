"""Overlays land where OpenCV says: silhouette corners, depth, texture orientation, distortion."""

import cv2
import numpy as np
import pytest

from arkit.core import Intrinsics
from arkit.core.errors import IntrinsicsError
from arkit.core.pose import from_rt, invert, rotvec_to_matrix
from arkit.render import DrawItem, box_mesh, quad_mesh, sphere_mesh

K = Intrinsics(640, 480, 531.0, 527.0, 322.4, 236.8)
FACE_COLORS = [(1, 0, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (0, 0, 1), (1, 1, 0)]  # +X -X +Y -Y +Z -Z


def _cv_project(points_world, T_wc, intr=K):
    T_cw = invert(T_wc)
    rvec, _ = cv2.Rodrigues(T_cw[:3, :3])
    pts = np.asarray(points_world, float).reshape(-1, 1, 3)
    if intr.model == "fisheye" and intr.has_distortion:
        uv, _ = cv2.fisheye.projectPoints(pts, rvec, T_cw[:3, 3], intr.K, intr.dist_coeffs)
    else:
        uv, _ = cv2.projectPoints(pts, rvec, T_cw[:3, 3], intr.K, intr.dist_coeffs)
    return uv.reshape(-1, 2)


def _edge_crossings(alpha, p, q, n_samples=25, half=5.0):
    """Sub-pixel points where alpha crosses 0.5 along the normal of segment p-q (away from ends)."""
    d = (q - p) / np.linalg.norm(q - p)
    nrm = np.array([-d[1], d[0]])
    length = np.linalg.norm(q - p)
    out = []
    offs = np.linspace(-half, half, 41)
    for s in np.linspace(0.2 * length, 0.8 * length, n_samples):
        c = p + d * s
        xy = (c[None] + offs[:, None] * nrm[None]).astype(np.float32)
        prof = cv2.remap(alpha, xy[:, 0].reshape(1, -1), xy[:, 1].reshape(1, -1), cv2.INTER_LINEAR).ravel()
        above = prof >= 0.5
        idx = np.nonzero(above[1:] != above[:-1])[0]
        if len(idx) != 1:
            continue
        i = idx[0]
        t = (0.5 - prof[i]) / (prof[i + 1] - prof[i])
        out.append(c + nrm * (offs[i] + t * (offs[i + 1] - offs[i])))
    return np.array(out)


def _silhouette_corners(rgba):
    """Corners of the (convex) silhouette: approxPolyDP, then intersect lines fitted to each edge."""
    alpha = rgba[:, :, 3].astype(np.float32) / 255.0
    mask = (rgba[:, :, 3] > 127).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cnt = max(contours, key=cv2.contourArea)
    poly = cv2.approxPolyDP(cnt, 2.5, True).reshape(-1, 2).astype(float)
    lines = []
    for i in range(len(poly)):
        pts = _edge_crossings(alpha, poly[i], poly[(i + 1) % len(poly)])
        vx, vy, x0, y0 = cv2.fitLine(pts.astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], float), np.array([vx, vy], float)))
    corners = []
    for i in range(len(lines)):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        A = np.column_stack([d1, -d2])
        s = np.linalg.solve(A, p2 - p1)
        corners.append(p1 + s[0] * d1)
    return np.array(corners)


def _box_scene():
    ext = np.array([0.12, 0.08, 0.10])
    # chosen so that the silhouette is a hexagon with well-defined corners (all < 150 deg)
    T_wo = from_rt(rotvec_to_matrix([0.5, 0.9, -0.3]), [0.02, 0.04, -0.01])
    # camera above and in front, looking at the box (OpenCV axes, world +Y up)
    eye, target = np.array([0.22, 0.33, 0.42]), np.array([0.0, 0.0, 0.0])
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    T_wc = from_rt(np.stack([x, np.cross(z, x), z], axis=1), eye)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    corners_world = (signs * ext / 2) @ T_wo[:3, :3].T + T_wo[:3, 3]
    return ext, T_wo, T_wc, corners_world


def _check_registration(out, T_wc, corners_world):
    ref = _cv_project(corners_world, T_wc)
    hull = cv2.convexHull(ref.astype(np.float32)).reshape(-1, 2).astype(float)
    e_in, e_out = np.roll(hull, 1, axis=0) - hull, np.roll(hull, -1, axis=0) - hull
    cos = np.einsum("ij,ij->i", e_in, e_out) / np.linalg.norm(e_in, axis=1) / np.linalg.norm(e_out, axis=1)
    assert np.degrees(np.arccos(cos)).max() < 155.0  # corners are well conditioned
    got = _silhouette_corners(out.rgba)
    assert len(got) == len(hull), (got, hull)
    dist = np.linalg.norm(got[:, None] - hull[None], axis=2)
    err = dist.min(axis=1)
    assert np.all(err < 1.0), f"silhouette corners off by {err.round(3)} px"
    assert len(set(dist.argmin(axis=1))) == len(hull)
    return err


def test_gl_box_silhouette_corners_register_with_cv2(gl_renderer_640):
    ext, T_wo, T_wc, corners = _box_scene()
    out = gl_renderer_640.render([DrawItem(box_mesh(ext, FACE_COLORS), T_wo)], K, T_wc)
    err = _check_registration(out, T_wc, corners)
    assert err.mean() < 0.5


def test_software_box_silhouette_corners_register_with_cv2(sw_renderer_640):
    ext, T_wo, T_wc, corners = _box_scene()
    out = sw_renderer_640.render([DrawItem(box_mesh(ext, FACE_COLORS), T_wo)], K, T_wc)
    _check_registration(out, T_wc, corners)


@pytest.mark.parametrize("which", ["gl", "software"])
def test_box_faces_show_their_colours(which, gl_renderer_640, sw_renderer_640):
    r = gl_renderer_640 if which == "gl" else sw_renderer_640
    ext, T_wo, T_wc, _ = _box_scene()
    out = r.render([DrawItem(box_mesh(ext, FACE_COLORS, unlit=True), T_wo)], K, T_wc)
    cam_in_obj = invert(T_wo) @ np.append(T_wc[:3, 3], 1.0)
    seen = 0
    for i, (axis, sign) in enumerate([(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]):
        c = np.zeros(3)
        c[axis] = sign * ext[axis] / 2
        if sign * (cam_in_obj[axis] - c[axis]) <= 0:
            continue  # face points away from the camera
        u, v = np.round(_cv_project((T_wo @ np.append(c, 1))[None, :3], T_wc)[0]).astype(int)
        px = out.rgba[v, u]
        assert px[3] == 255
        np.testing.assert_allclose(px[:3] / 255.0, FACE_COLORS[i], atol=0.02)
        seen += 1
    assert seen == 3


@pytest.mark.parametrize("which", ["gl", "software"])
def test_depth_is_metric_camera_z(which, gl_renderer_640, sw_renderer_640):
    r = gl_renderer_640 if which == "gl" else sw_renderer_640
    T_wc = from_rt(rotvec_to_matrix([0.35, -0.25, 0.1]), [0.05, -0.02, 0.0])
    # a 1.2 m square tilted in front of the camera, centre 1.5 m away
    T_co = from_rt(rotvec_to_matrix([1.2, 0.3, 0.0]), [0.1, 0.05, 1.5])
    T_wo = T_wc @ T_co
    out = r.render([DrawItem(quad_mesh(1.2, 1.2), T_wo)], K, T_wc)
    n_cam = T_co[:3, 1]  # quad normal (+Y) in the camera frame
    p_cam = T_co[:3, 3]
    inside = cv2.erode((out.rgba[:, :, 3] == 255).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 20000
    v, u = np.nonzero(inside)
    rays = K.unproject(np.column_stack([u, v]))
    z_true = (p_cam @ n_cam) / (rays @ n_cam)
    err = np.abs(out.depth_m[v, u] - z_true)
    assert err.max() < 0.003
    assert np.all(out.depth_m[out.rgba[:, :, 3] == 0] == 0)


@pytest.mark.parametrize("which", ["gl", "software"])
def test_texture_orientation(which, gl_renderer_640, sw_renderer_640):
    r = gl_renderer_640 if which == "gl" else sw_renderer_640
    tex = np.full((64, 64, 3), 255, np.uint8)
    tex[:16, :16] = (255, 0, 0)    # top-left red
    tex[:16, -16:] = (0, 255, 0)   # top-right green
    tex[-16:, :16] = (0, 0, 255)   # bottom-left blue
    w, h = 0.3, 0.2
    quad = quad_mesh(w, h, texture=tex)
    T_wo = from_rt(rotvec_to_matrix([0.0, 0.4, 0.0]), [0.01, 0.0, -0.02])
    # camera above, looking down -Y, with -Z up on screen (image up = -y_cam = -Z world)
    R = np.column_stack([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    T_wc = from_rt(rotvec_to_matrix([0.15, 0.0, 0.1]) @ R, [0.0, 0.45, 0.0])
    out = r.render([DrawItem(quad, T_wo)], K, T_wc)
    expect = {(-3 / 8, -3 / 8): (1, 0, 0), (3 / 8, -3 / 8): (0, 1, 0), (-3 / 8, 3 / 8): (0, 0, 1),
              (3 / 8, 3 / 8): (1, 1, 1), (0, 0): (1, 1, 1)}
    for (fx, fz), rgb in expect.items():
        p = T_wo @ np.array([fx * w, 0.0, fz * h, 1.0])
        u, v = np.round(_cv_project(p[None, :3], T_wc)[0]).astype(int)
        np.testing.assert_allclose(out.rgba[v, u, :3] / 255.0, rgb, atol=0.05, err_msg=f"at {(fx, fz)}")
    # and the red corner is at the top-left of the image of the quad
    red = np.all(out.rgba[:, :, :3] == (255, 0, 0), axis=2)
    ys, xs = np.nonzero(out.rgba[:, :, 3] > 0)
    ry, rx = np.nonzero(red)
    assert rx.mean() < xs.mean() and ry.mean() < ys.mean()


def test_intrinsics_size_mismatch_raises(gl_renderer_640, sw_renderer_640):
    bad = Intrinsics(320, 240, 260.0, 260.0, 160.0, 120.0)
    for r in (gl_renderer_640, sw_renderer_640):
        with pytest.raises(IntrinsicsError, match="320x240"):
            r.render([], bad, np.eye(4))


DISTORTED = {
    "radtan": Intrinsics(640, 480, 500.0, 498.0, 318.0, 244.0, (-0.28, 0.09, 0.0012, -0.0008, -0.01)),
    "fisheye": Intrinsics(640, 480, 420.0, 421.0, 322.0, 238.0, (0.08, -0.02, 0.004, -0.001), "fisheye"),
}


@pytest.mark.parametrize("model", ["radtan", "fisheye"])
@pytest.mark.parametrize("which", ["gl", "software"])
def test_distorted_intrinsics_register_with_cv2(which, model, gl_renderer_640, sw_renderer_640):
    r = gl_renderer_640 if which == "gl" else sw_renderer_640
    Kd = DISTORTED[model]
    T_wc = np.eye(4)
    # small balls spread over the field of view, incl. the strongly distorted corners
    xs, ys = np.meshgrid(np.linspace(-0.55, 0.55, 5), np.linspace(-0.42, 0.42, 4))
    z = 1.0
    centres = np.column_stack([xs.ravel() * z, ys.ravel() * z, np.full(xs.size, z)])
    ball = sphere_mesh(0.006, (1, 1, 1), 2, unlit=True)
    out = r.render([DrawItem(ball, from_rt(t=c)) for c in centres], Kd, T_wc)
    ref = _cv_project(centres, T_wc, Kd)
    pinhole = _cv_project(centres, T_wc, Kd.undistorted())
    assert np.linalg.norm(ref - pinhole, axis=1).max() > 10.0  # the test is sensitive to distortion
    a = out.rgba[:, :, 3].astype(float)
    for (u, v) in ref:
        x0, y0 = int(u) - 8, int(v) - 8
        win = a[y0:y0 + 17, x0:x0 + 17]
        assert win.sum() > 0, f"no ball drawn near {(u, v)}"
        gy, gx = np.mgrid[y0:y0 + 17, x0:x0 + 17]
        c = np.array([(gx * win).sum(), (gy * win).sum()]) / win.sum()
        assert np.linalg.norm(c - (u, v)) < 0.5, f"ball centroid {c} vs cv2 {(u, v)}"
