"""OpenCV camera model -> OpenGL matrices, depth-buffer decoding and lens-distortion maps.

This is the one place where arkit's OpenCV camera (x right, y down, z forward; pixel centres at
integer coordinates, row 0 at the top) meets OpenGL (x right, y up, -z forward; window pixel
``i`` spans ``[i, i + 1]``, row 0 at the bottom). Both renderers and every test of overlay
registration go through these functions.

Conventions
-----------
An OpenCV pixel ``(u, v)`` (``u = fx * x / z + cx``) is the GL window position
``(u + 0.5, H - v - 0.5)``. Renderers read the GL framebuffer back and flip it vertically, so
row ``v`` of the returned image is the OpenCV row ``v``.
"""

from __future__ import annotations

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import IntrinsicsError
from arkit.core.pose import CV_FROM_GL, as_transform, invert, opencv_to_opengl_camera


def _check_near_far(near: float, far: float) -> None:
    if not (np.isfinite(near) and np.isfinite(far) and 0.0 < near < far):
        raise IntrinsicsError(f"need 0 < near < far for the projection, got near={near} far={far}")


def projection_matrix_gl(intrinsics: Intrinsics, near: float = 0.01, far: float = 100.0) -> np.ndarray:
    """OpenGL projection matrix reproducing the pinhole part of OpenCV ``intrinsics``.

    Parameters
    ----------
    intrinsics : Intrinsics
        ``fx, fy, cx, cy`` in pixels with OpenCV's pixel-centre convention; distortion ignored
        (renderers apply it afterwards, see :func:`distortion_remap`).
    near, far : float
        Clip distances in metres along the optical axis.

    Returns
    -------
    (4, 4) float64
        Maps OpenGL eye coordinates (see :func:`view_matrix_gl`) to clip space so that the GL
        window position of a point is ``(u + 0.5, H - v - 0.5)`` for its OpenCV pixel ``(u, v)``
        and NDC depth is -1 at ``near`` and +1 at ``far``.

    >>> K = Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)
    >>> projection_matrix_gl(K)[0, 2].round(6), projection_matrix_gl(K)[1, 2].round(6)
    (0.0, 0.0)
    """
    _check_near_far(near, far)
    W, H = float(intrinsics.width), float(intrinsics.height)
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 * intrinsics.fx / W
    P[0, 2] = 1.0 - 2.0 * (intrinsics.cx + 0.5) / W
    P[1, 1] = 2.0 * intrinsics.fy / H
    P[1, 2] = 2.0 * (intrinsics.cy + 0.5) / H - 1.0
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = -1.0
    return P


def view_matrix_gl(T_world_camera) -> np.ndarray:
    """OpenGL view matrix (world -> GL eye) for an OpenCV-axes camera pose.

    Parameters
    ----------
    T_world_camera : (4, 4) float64
        Camera pose with OpenCV axes.

    Returns
    -------
    (4, 4) float64
        ``inverse(opencv_to_opengl_camera(T_world_camera))``.
    """
    return invert(opencv_to_opengl_camera(as_transform(T_world_camera, "T_world_camera")))


def project_points_gl(points_world, intrinsics: Intrinsics, T_world_camera, near: float = 0.01,
                      far: float = 100.0) -> np.ndarray:
    """Project world points through the GL matrices and return OpenCV pixels.

    Used to test :func:`projection_matrix_gl` and :func:`view_matrix_gl` against
    ``cv2.projectPoints``; renderers do the same maths on the GPU.

    Parameters
    ----------
    points_world : (N, 3) float64
    intrinsics : Intrinsics
    T_world_camera : (4, 4) float64

    Returns
    -------
    (N, 2) float64
        ``(u, v)`` pixels (OpenCV convention, no distortion).
    """
    P = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    M = projection_matrix_gl(intrinsics, near, far) @ view_matrix_gl(T_world_camera)
    clip = np.concatenate([P, np.ones((len(P), 1))], axis=1) @ M.T
    ndc = clip[:, :3] / clip[:, 3:4]
    x_win = (ndc[:, 0] + 1.0) * 0.5 * intrinsics.width
    y_win = (ndc[:, 1] + 1.0) * 0.5 * intrinsics.height
    return np.stack([x_win - 0.5, intrinsics.height - y_win - 0.5], axis=1)


def model_view_cv(T_world_camera, T_world_object) -> np.ndarray:
    """(4, 4) float64 transform from object coordinates to the OpenCV camera frame."""
    return invert(T_world_camera) @ T_world_object


def mvp_from_model_view_cv(P_gl: np.ndarray, T_camera_object: np.ndarray) -> np.ndarray:
    """Clip-space matrix from a projection and an OpenCV-camera model-view matrix."""
    return P_gl @ CV_FROM_GL @ T_camera_object


_I1, _I2 = np.array([1, 2, 0]), np.array([2, 0, 1])


def normal_matrix(M: np.ndarray) -> np.ndarray:
    """(3, 3) normal matrix ``inv(M).T`` up to a positive scale (the shader normalises).

    The cofactor matrix ``C[i, j] = M[i+1, j+1] M[i+2, j+2] - M[i+1, j+2] M[i+2, j+1]`` (indices
    mod 3, ``C = det(M) inv(M).T``) times the sign of the determinant: a few array operations
    instead of a LAPACK call."""
    a, b = M[_I1], M[_I2]
    C = a[:, _I1] * b[:, _I2] - a[:, _I2] * b[:, _I1]
    return -C if float(M[0] @ C[0]) < 0.0 else C


def gl_depth_to_metric(depth_window: np.ndarray, near: float, far: float) -> np.ndarray:
    """Window-space GL depth in [0, 1] to camera z in metres (0 where nothing was drawn).

    Parameters
    ----------
    depth_window : (H, W) float32
        Depth-buffer values; 1.0 (the clear value) means empty.
    near, far : float
        The values used to build the projection matrix.

    Returns
    -------
    (H, W) float32
    """
    d = np.asarray(depth_window, dtype=np.float32)
    z_ndc = 2.0 * d - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (2.0 * far * near) / ((far + near) - z_ndc * (far - near))
    z = z.astype(np.float32, copy=False)
    z[d >= 1.0] = 0.0
    return z


# -- lens distortion ---------------------------------------------------------------------------

def distortion_canvas(intrinsics: Intrinsics, max_scale: float = 2.0):
    """Pinhole canvas that covers every raw pixel of a distorted camera, and the remap tables.

    A renderer draws with the returned pinhole ``canvas`` intrinsics (same ``fx, fy``, size and
    principal point grown so that the undistorted rays of all raw pixels fall inside), then
    ``cv2.remap(canvas_image, map_x, map_y, ...)`` produces the image as the real (distorted)
    lens sees it, so overlays register on raw camera frames.

    Parameters
    ----------
    intrinsics : Intrinsics
        Camera with distortion (pinhole radial-tangential or fisheye).
    max_scale : float
        The canvas is at most this many times the raw size per axis (strong fisheye lenses see
        more than a pinhole canvas can hold; the far periphery is then left empty).

    Returns
    -------
    canvas : Intrinsics
        Pinhole intrinsics of the canvas to render.
    map_x, map_y : (H, W) float32
        For each raw pixel, its position in the canvas (for ``cv2.remap``).
    """
    W, H = intrinsics.width, intrinsics.height
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    xy_d = np.stack([(u.ravel() - intrinsics.cx) / intrinsics.fx,
                     (v.ravel() - intrinsics.cy) / intrinsics.fy], axis=1)
    xy = _undistort_normalized(intrinsics, xy_d)
    uc = intrinsics.fx * xy[:, 0] + intrinsics.cx
    vc = intrinsics.fy * xy[:, 1] + intrinsics.cy
    ok = np.isfinite(uc) & np.isfinite(vc)
    lo_u = max(np.floor(np.min(uc[ok])) - 1.0, -(max_scale - 1.0) * W / 2.0)
    hi_u = min(np.ceil(np.max(uc[ok])) + 1.0, W - 1 + (max_scale - 1.0) * W / 2.0)
    lo_v = max(np.floor(np.min(vc[ok])) - 1.0, -(max_scale - 1.0) * H / 2.0)
    hi_v = min(np.ceil(np.max(vc[ok])) + 1.0, H - 1 + (max_scale - 1.0) * H / 2.0)
    off_u, off_v = -min(lo_u, 0.0), -min(lo_v, 0.0)
    cw = int(max(hi_u, W - 1) + off_u) + 1
    ch = int(max(hi_v, H - 1) + off_v) + 1
    canvas = Intrinsics(cw, ch, intrinsics.fx, intrinsics.fy, intrinsics.cx + off_u, intrinsics.cy + off_v)
    map_x = np.where(ok, uc + off_u, -1.0).reshape(H, W).astype(np.float32)
    map_y = np.where(ok, vc + off_v, -1.0).reshape(H, W).astype(np.float32)
    return canvas, map_x, map_y


def _undistort_normalized(intrinsics: Intrinsics, xy_d: np.ndarray) -> np.ndarray:
    """Undistort normalised points with OpenCV (accurate iterative solver), numpy fallback."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - cv2 is a dependency
        return intrinsics.undistort_normalized(xy_d)
    pts = xy_d.reshape(-1, 1, 2).astype(np.float64)
    eye = np.eye(3)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
    if intrinsics.model == "fisheye":
        out = cv2.fisheye.undistortPoints(pts, eye, intrinsics.dist_coeffs.reshape(4), criteria=crit)
    else:
        out = cv2.undistortPoints(pts, eye, intrinsics.dist_coeffs, None, None, None, crit)
    return out.reshape(-1, 2)
