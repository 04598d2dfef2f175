"""What every renderer backend shares: the ``render`` contract, input checks, draw order and the
lens-distortion post-step.

A backend only implements :meth:`Renderer._render_pinhole` (draw sorted items with an ideal
pinhole camera at a given canvas size); this class checks the inputs, orders the items (opaque
first, then translucent ones back to front) and, for cameras with lens distortion, renders a
pinhole canvas and warps it with a cached ``cv2.remap`` table so that overlays register on the
raw (distorted) camera image.
"""

from __future__ import annotations

import logging
import weakref
from typing import Sequence

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import IntrinsicsError, RendererError
from arkit.core.pose import as_transform, invert
from arkit.render.types import DrawItem, MeshData, RenderOutput

log = logging.getLogger(__name__)


def mesh_is_translucent(mesh: MeshData) -> bool:
    """True when a mesh has any alpha < 1 in its colours or texture."""
    if len(mesh.colors) and float(mesh.colors[:, 3].min()) < 1.0:
        return True
    return mesh.texture is not None and mesh.uv is not None and int(mesh.texture[:, :, 3].min()) < 255


def mesh_is_single_layer(mesh: MeshData) -> bool:
    """True when no pixel can be covered twice by the mesh: one triangle, or two coplanar
    triangles sharing an edge on opposite sides of it (a quad, e.g. a label). A translucent
    single-layer mesh needs no depth pre-pass."""
    f = mesh.faces
    if len(f) == 1:
        return True
    if len(f) != 2:
        return False
    shared = np.intersect1d(f[0], f[1])
    if len(shared) != 2:
        return False
    v = mesh.vertices.astype(np.float64)
    a, b = v[shared[0]], v[shared[1]]
    p = v[np.setdiff1d(f[0], shared)[0]]
    q = v[np.setdiff1d(f[1], shared)[0]]
    n_p, n_q = np.cross(b - a, p - a), np.cross(b - a, q - a)
    scale = max(float(np.linalg.norm(n_p)), float(np.linalg.norm(n_q)), 1e-30)
    coplanar = abs(float(np.dot(q - a, n_p))) <= 1e-6 * scale * (float(np.linalg.norm(q - a)) + 1e-30)
    return coplanar and float(np.dot(n_p, n_q)) < 0.0


def sort_items(items: Sequence[DrawItem], T_world_camera: np.ndarray, translucent_of, *,
               T_camera_world: np.ndarray | None = None) -> list:
    """Opaque items in the given order, then translucent items farthest first.

    Parameters
    ----------
    items : sequence of DrawItem
    T_world_camera : (4, 4) float64
    translucent_of : callable
        ``MeshData -> bool`` (backends cache it per mesh key).
    T_camera_world : (4, 4) float64, optional
        ``invert(T_world_camera)`` when the caller already has it.
    """
    opaque, trans = [], []
    if T_camera_world is None:
        T_camera_world = invert(T_world_camera)
    for it in items:
        if not isinstance(it, DrawItem):
            raise RendererError(f"render() expects DrawItem objects, got {type(it).__name__}")
        if len(it.mesh.faces) == 0 or it.opacity <= 0.0:
            continue
        if it.opacity < 1.0 or translucent_of(it.mesh):
            centre = it.mesh.bounds.mean(axis=0)
            p = T_camera_world @ it.T_world_object @ np.append(centre, 1.0)
            trans.append((-float(np.linalg.norm(p[:3])), len(trans), it))
        else:
            opaque.append(it)
    trans.sort(key=lambda t: (t[0], t[1]))
    return opaque + [t[2] for t in trans]


_BOX_SIGNS = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=bool)
_MAX_HULL_VERTICES = 4096  # bigger meshes are bounded by their box corners instead


def hull_points(mesh: MeshData) -> np.ndarray:
    """(N, 3) points whose convex hull contains the mesh: its vertices (float32, not copied)
    when there are at most 4096, else the 8 corners of its bounding box (float64)."""
    if len(mesh.vertices) <= _MAX_HULL_VERTICES:
        return mesh.vertices
    b = mesh.bounds
    return np.where(_BOX_SIGNS, b[1], b[0])


def screen_rect(items: Sequence[DrawItem], intrinsics: Intrinsics, T_world_camera: np.ndarray, near: float, *,
                T_camera_world: np.ndarray | None = None, points_of=None):
    """Conservative pixel rectangle that can receive fragments of ``items`` (pinhole camera).

    The projection of each mesh's vertices (or bounding-box corners for big meshes), grown by
    2 px for antialiasing.

    Parameters
    ----------
    items : sequence of DrawItem
    intrinsics : Intrinsics
    T_world_camera : (4, 4) float64
    near : float
        Near clip distance in metres.
    T_camera_world : (4, 4) float64, optional
        ``invert(T_world_camera)`` when the caller already has it.
    points_of : callable, optional
        ``MeshData -> (N, 3)`` float hull points (backends cache them per mesh); default
        :func:`hull_points`.

    Returns
    -------
    (x0, y0, x1, y1) int, inclusive, or None when nothing can be visible.
        The whole image when a mesh crosses the near plane.
    """
    W, H = intrinsics.width, intrinsics.height
    if not items:
        return None
    if T_camera_world is None:
        T_camera_world = invert(T_world_camera)
    points_of = points_of or hull_points
    lo_u = lo_v = np.inf
    hi_u = hi_v = -np.inf
    for it in items:
        T = T_camera_world @ it.T_world_object
        P = points_of(it.mesh) @ T[:3, :3].T + T[:3, 3]
        if not np.isfinite(P).all():
            raise RendererError(f"a mesh drawn at T_world_object={it.T_world_object.tolist()} has non-finite vertices")
        z = P[:, 2]
        if z.max() < near:
            continue
        if z.min() < near:
            return 0, 0, W - 1, H - 1
        u = intrinsics.fx * P[:, 0] / z
        v = intrinsics.fy * P[:, 1] / z
        lo_u, hi_u = min(lo_u, float(u.min())), max(hi_u, float(u.max()))
        lo_v, hi_v = min(lo_v, float(v.min())), max(hi_v, float(v.max()))
    if not np.isfinite(lo_u):
        return None
    cx, cy = intrinsics.cx, intrinsics.cy
    x0, x1 = max(int(np.floor(lo_u + cx)) - 2, 0), min(int(np.ceil(hi_u + cx)) + 2, W - 1)
    y0, y1 = max(int(np.floor(lo_v + cy)) - 2, 0), min(int(np.ceil(hi_v + cy)) + 2, H - 1)
    if x0 > x1 or y0 > y1:
        return None
    return x0, y0, x1, y1


class Renderer:
    """Base class of the renderers; see :func:`arkit.render.create_renderer`.

    Parameters
    ----------
    width, height : int
        Output image size in pixels.
    """

    backend = "none"

    def __init__(self, width: int, height: int):
        width, height = int(width), int(height)
        if width <= 0 or height <= 0 or width > 16384 or height > 16384:
            raise RendererError(f"renderer size must be between 1x1 and 16384x16384, got {width}x{height}")
        self.width, self.height = width, height
        self._distortion_cache: dict = {}
        self._translucent: dict = {}
        self._hulls: dict = {}

    # -- public -------------------------------------------------------------------------------
    def render(self, items: Sequence[DrawItem], intrinsics: Intrinsics, T_world_camera, *,
               near: float = 0.01, far: float = 100.0, ambient: float = 0.45,
               light_dir_camera=(0.3, -0.6, 1.0)) -> RenderOutput:
        """Draw ``items`` as seen by a camera.

        Parameters
        ----------
        items : sequence of DrawItem
            Meshes with their world poses; opaque ones are drawn first, translucent ones
            (``opacity < 1`` or alpha in colours/texture) after, farthest first.
        intrinsics : Intrinsics
            Must match the renderer size. With lens distortion the overlay is rendered with the
            pinhole ``K`` on a canvas large enough for the whole field of view and warped with
            ``cv2.remap`` (cached per intrinsics) so it registers on the raw, distorted image.
        T_world_camera : (4, 4) float64
            Camera pose, OpenCV axes.
        near, far : float
            Clip distances in metres.
        ambient : float
            Ambient light fraction in [0, 1]; lit colour = ``colour * (ambient + (1 - ambient) *
            max(0, n . -light))``.
        light_dir_camera : (3,) float
            Direction in which the directional light travels, in OpenCV camera axes (need not
            be unit length). The default travels forward and a little right and up, so surfaces
            facing the camera are lit.

        Returns
        -------
        RenderOutput
            ``rgba`` (H, W, 4) uint8 straight alpha and ``depth_m`` (H, W) float32 camera z
            (0 where empty); row 0 is the top of the image. New arrays for each call (the GL
            backend returns them read-only and recycles them once nothing references them;
            copy them to modify).
        """
        if not isinstance(intrinsics, Intrinsics):
            raise IntrinsicsError(f"intrinsics must be an arkit.core.Intrinsics, got {type(intrinsics).__name__}")
        intrinsics.check_image(np.empty((self.height, self.width, 0)), what="renderer output")
        T_wc = as_transform(T_world_camera, "T_world_camera")
        if not (np.isfinite(near) and np.isfinite(far) and 0.0 < near < far):
            raise RendererError(f"need 0 < near < far, got near={near} far={far}")
        light = np.asarray(light_dir_camera, dtype=np.float64).reshape(3)
        n = np.linalg.norm(light)
        if not np.isfinite(n) or n < 1e-9:
            raise RendererError(f"light_dir_camera must be a finite non-zero 3-vector, got {light_dir_camera}")
        light = light / n
        ambient = float(np.clip(ambient, 0.0, 1.0))
        ordered = sort_items(items, T_wc, self._is_translucent, T_camera_world=invert(T_wc))
        if not intrinsics.has_distortion:
            rgba, depth = self._render_pinhole(ordered, intrinsics, T_wc, near, far, ambient, light)
            return RenderOutput(rgba=rgba, depth_m=depth, box=self._drawn_box(rgba))
        canvas, map_x, map_y = self._distortion(intrinsics)
        if not ordered:
            rgba = np.zeros((self.height, self.width, 4), np.uint8)
            return RenderOutput(rgba=rgba, depth_m=np.zeros((self.height, self.width), np.float32))
        rgba_c, depth_c = self._render_pinhole(ordered, canvas, T_wc, near, far, ambient, light)
        import cv2

        # interpolate premultiplied colour so that edges do not darken towards transparent black
        prem = rgba_c.astype(np.float32)
        prem[:, :, :3] *= prem[:, :, 3:4] * (1.0 / 255.0)
        warped = cv2.remap(prem, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = warped[:, :, 3:4]
        warped[:, :, :3] *= np.where(a > 0.5, 255.0 / np.maximum(a, 0.5), 0.0)
        rgba = np.clip(warped + 0.5, 0, 255).astype(np.uint8)
        depth = cv2.remap(depth_c, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return RenderOutput(rgba=rgba, depth_m=depth)

    def close(self) -> None:
        """Release resources (GPU context, caches). Safe to call twice."""
        self._distortion_cache.clear()
        self._hulls.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- for backends -------------------------------------------------------------------------
    def _drawn_box(self, rgba: np.ndarray):
        """``(rows, cols)`` slices outside which :meth:`_render_pinhole` left ``rgba`` empty,
        when the backend knows (:attr:`RenderOutput.box`); None otherwise."""
        return None

    def _render_pinhole(self, items, intrinsics, T_world_camera, near, far, ambient, light):
        """Return ``(rgba (h, w, 4) uint8, depth (h, w) float32)`` at ``intrinsics`` size."""
        raise NotImplementedError

    def _is_translucent(self, mesh: MeshData) -> bool:
        hit = self._translucent.get(mesh.key)
        if hit is not None and hit[0] is mesh.colors:  # same arrays: same mesh (keys can be copied)
            return hit[1]
        if len(self._translucent) > 4096:
            self._translucent.clear()
        v = mesh_is_translucent(mesh)
        self._translucent[mesh.key] = (mesh.colors, v)
        return v

    def _hull_points(self, mesh: MeshData) -> np.ndarray:
        """:func:`hull_points`, cached per mesh for big meshes (whose bounds cost a pass)."""
        if len(mesh.vertices) <= _MAX_HULL_VERTICES:
            return mesh.vertices
        hit = self._hulls.get(mesh.key)
        if hit is not None and hit[0]() is mesh:
            return hit[1]
        if len(self._hulls) > 1024:
            self._hulls.clear()
        c = hull_points(mesh)
        self._hulls[mesh.key] = (weakref.ref(mesh), c)
        return c

    def _distortion(self, intrinsics: Intrinsics):
        key = (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, intrinsics.dist, intrinsics.model)
        hit = self._distortion_cache.get(key)
        if hit is None:
            from arkit.render.projection import distortion_canvas

            if len(self._distortion_cache) >= 4:
                self._distortion_cache.clear()
            hit = self._distortion_cache[key] = distortion_canvas(intrinsics)
            log.debug("distortion canvas for %dx%d: %dx%d", self.width, self.height, hit[0].width, hit[0].height)
        return hit
