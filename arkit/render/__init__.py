"""Rendering: moderngl (headless EGL) with a software fallback, and compositing over camera frames.

>>> from arkit.render import create_renderer, composite, box_mesh, DrawItem   # doctest: +SKIP
>>> with create_renderer(640, 480) as r:                                      # doctest: +SKIP
...     out = r.render([DrawItem(box_mesh((0.1, 0.1, 0.1)), T_world_box)], K, T_world_camera)
...     frame = composite(image_rgb, out, real_depth_m=depth_m)

Contract (both backends)
------------------------
``render(items, intrinsics, T_world_camera, *, near=0.01, far=100.0, ambient=0.45,
light_dir_camera=(0.3, -0.6, 1.0)) -> RenderOutput`` with ``rgba`` (H, W, 4) uint8 straight
alpha and ``depth_m`` (H, W) float32 camera z (0 = nothing drawn); row 0 is the top row and pixel
``(u, v)`` is the OpenCV pixel ``(u, v)`` (tested against ``cv2.projectPoints``).
``intrinsics`` must be of the renderer's size (:class:`IntrinsicsError` otherwise).

* Shading: ``colour * (ambient + (1 - ambient) * max(0, n . -light))`` with one directional light
  whose travel direction is given in OpenCV camera axes; ``MeshData.unlit`` meshes are drawn
  with their colours as they are. Vertex colours multiply the texture (uv with v up).
* Alpha: colour alpha x texture alpha x ``DrawItem.opacity``. Opaque items are drawn first, then
  translucent ones farthest first; of a translucent item only its front-most surface is blended.
* Lens distortion: when ``intrinsics`` has distortion coefficients (OpenCV rad-tan or fisheye),
  the overlay is rendered with the pinhole ``K`` on a canvas grown to hold every raw pixel's ray,
  then warped with a cached ``cv2.remap`` table (colour interpolated premultiplied, depth nearest)
  so it registers on the raw, distorted camera image. Pass ``intrinsics.undistorted()`` instead
  when you composite onto undistorted frames.
* GL specifics: 4x MSAA by default (resolved before readback), GPU buffers and textures cached per
  ``MeshData.key`` and freed when the mesh is garbage-collected, framebuffers sized to the screen
  rectangle of the items (cached), so small overlays are cheap.
* Software specifics: no antialiasing, nearest-texel textures; otherwise the same output (tested).

``import arkit.render`` stays light: moderngl, cv2 and trimesh are imported when a renderer, a
compositor call or a mesh builder needs them.
"""

from __future__ import annotations

import logging
import warnings

from arkit.core.errors import RendererError
from arkit.render.base import Renderer
from arkit.render.compositor import composite
from arkit.render.gl_renderer import GLRenderer
from arkit.render.meshes import (
    axes_mesh, box_mesh, mesh_from_trimesh, quad_mesh, sphere_mesh, text_label_mesh,
)
from arkit.render.software_renderer import SoftwareRenderer
from arkit.render.types import DrawItem, MeshData, RenderOutput

log = logging.getLogger(__name__)

__all__ = [
    "DrawItem", "GLRenderer", "MeshData", "RenderOutput", "Renderer", "SoftwareRenderer",
    "axes_mesh", "box_mesh", "composite", "create_renderer", "mesh_from_trimesh", "quad_mesh",
    "sphere_mesh", "text_label_mesh",
]


def create_renderer(width: int, height: int, *, backend: str = "auto", samples: int = 4) -> Renderer:
    """Create a renderer for ``width x height`` output images.

    Parameters
    ----------
    width, height : int
        Output size; ``render`` requires intrinsics of exactly this size.
    backend : {"auto", "gl", "software"}
        ``"gl"``: moderngl on a headless EGL context (raises :class:`RendererError` if none can
        be created). ``"software"``: the numpy/OpenCV rasteriser. ``"auto"``: GL, falling back
        to software with a warning that says why.
    samples : int
        GL multisampling factor (ignored by the software renderer).

    Returns
    -------
    Renderer
        :class:`GLRenderer` or :class:`SoftwareRenderer`; both have ``render(items, intrinsics,
        T_world_camera, *, near, far, ambient, light_dir_camera) -> RenderOutput``, ``backend``,
        ``close()`` and work as context managers.
    """
    if backend == "gl":
        return GLRenderer(width, height, samples=samples)
    if backend == "software":
        return SoftwareRenderer(width, height)
    if backend != "auto":
        raise RendererError(f"unknown renderer backend {backend!r}; use 'auto', 'gl' or 'software'")
    try:
        return GLRenderer(width, height, samples=samples)
    except RendererError as e:
        msg = f"OpenGL renderer unavailable ({e}); falling back to the slower software renderer"
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return SoftwareRenderer(width, height)
