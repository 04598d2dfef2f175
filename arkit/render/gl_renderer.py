"""OpenGL renderer: moderngl with a headless EGL context (a GPU when present, else llvmpipe).

One standalone context per renderer. GPU buffers and textures are cached per
:attr:`MeshData.key` (meshes are immutable) and released when the mesh is garbage-collected;
Each frame draws only the items' screen rectangle (:func:`arkit.render.base.screen_rect`, the
projection of their vertices): into a multisampled framebuffer of about that size (cached per
size, rounded up to 16 px) with the principal point shifted by the rectangle's offset, so the
pixels are those of a full-frame render while clearing, multisample resolve and readback cost in
proportion to the overlay. Colour and depth are read back into that rectangle of full-size
output arrays, which are returned read-only and reused (only the previous rectangle is cleared)
once nothing references them any more. Opaque items are drawn without blending, and
single-layer translucent meshes (quads such as labels) without a depth pre-pass.
"""

from __future__ import annotations

import logging
import sys
import weakref

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import RendererError
from arkit.core.pose import CV_FROM_GL, invert
from arkit.render.base import Renderer, mesh_is_single_layer, screen_rect
from arkit.render.projection import gl_depth_to_metric, normal_matrix, projection_matrix_gl

log = logging.getLogger(__name__)

_FBO_STEP_PX = 16  # framebuffer sizes are multiples of this (fewer sizes to cache, little waste)
_FBO_CACHE = 12  # framebuffer sizes kept (least recently used dropped)
_OUTPUT_POOL = 3  # full-size output buffer pairs kept for reuse

_VERTEX_SHADER = """
#version 330
uniform mat4 u_mvp;
uniform mat3 u_nmat;
in vec3 in_pos;
in vec3 in_normal;
in vec4 in_color;
in vec2 in_uv;
out vec3 v_normal;
out vec4 v_color;
out vec2 v_uv;
void main() {
    gl_Position = u_mvp * vec4(in_pos, 1.0);
    v_normal = u_nmat * in_normal;
    v_color = in_color;
    v_uv = in_uv;
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2D u_tex;
uniform bool u_use_tex;
uniform bool u_unlit;
uniform float u_opacity;
uniform float u_ambient;
uniform vec3 u_light;
in vec3 v_normal;
in vec4 v_color;
in vec2 v_uv;
out vec4 f_color;
void main() {
    vec4 c = v_color;
    if (u_use_tex) c *= texture(u_tex, v_uv);
    c.a *= u_opacity;
    if (c.a < 0.5 / 255.0) discard;
    if (!u_unlit) {
        vec3 n = normalize(v_normal);
        if (!gl_FrontFacing) n = -n;
        float d = max(dot(n, -u_light), 0.0);
        c.rgb *= u_ambient + (1.0 - u_ambient) * d;
    }
    f_color = c;
}
"""


class _MeshGPU:
    """GPU copies of one mesh (vertex/index buffers, vertex array, optional texture)."""

    __slots__ = ("vbo", "ibo", "vao", "texture", "n_index", "mesh_ref", "single_layer")

    def release(self):
        for obj in (self.vao, self.vbo, self.ibo, self.texture):
            if obj is not None:
                obj.release()


class _Framebuffers:
    """Render target of one size: multisampled (or None), resolved, and readback arrays."""

    __slots__ = ("msaa", "resolve", "color", "depth")

    def release(self):
        for fbo in (self.msaa, self.resolve):
            if fbo is not None:
                for att in list(fbo.color_attachments) + [fbo.depth_attachment]:
                    if att is not None:
                        att.release()
                fbo.release()


class _Output:
    """A full-size (rgba, depth) output pair and the rectangle last written into it."""

    __slots__ = ("rgba", "depth", "rect")

    def __init__(self, h: int, w: int):
        self.rgba = np.zeros((h, w, 4), np.uint8)
        self.depth = np.zeros((h, w), np.float32)
        self.rect = None

    def unreferenced(self) -> bool:
        # this slot and getrefcount's argument: nobody else (no RenderOutput, view or slice)
        return sys.getrefcount(self.rgba) == 2 and sys.getrefcount(self.depth) == 2


class GLRenderer(Renderer):
    """Rasterise :class:`DrawItem` lists with OpenGL 3.3 through moderngl (headless EGL).

    Parameters
    ----------
    width, height : int
        Output size in pixels.
    samples : int
        Multisampling factor (0 or 1 = off; clamped to what the driver supports).
    backend : str, optional
        moderngl standalone backend (default ``"egl"``; ``None`` lets moderngl choose).

    Raises
    ------
    RendererError
        When no OpenGL 3.3 context can be created (no EGL, no driver).

    >>> from arkit.render import create_renderer, box_mesh, DrawItem   # doctest: +SKIP
    >>> with create_renderer(640, 480, backend="gl") as r:             # doctest: +SKIP
    ...     out = r.render([DrawItem(box_mesh((0.1, 0.1, 0.1)), T)], K, T_world_camera)
    """

    backend = "gl"

    def __init__(self, width: int, height: int, *, samples: int = 4, backend: str | None = "egl"):
        super().__init__(width, height)
        try:
            import moderngl
        except ImportError as e:  # pragma: no cover - moderngl is a dependency
            raise RendererError(f"moderngl is not installed ({e}); pip install moderngl") from e
        self._mgl = moderngl
        try:
            kw = {"backend": backend} if backend else {}
            self.ctx = moderngl.create_standalone_context(require=330, **kw)
        except Exception as e:  # moderngl/glcontext raise plain Exceptions
            raise RendererError(f"cannot create a headless OpenGL 3.3 context (backend={backend!r}): {e}") from e
        try:
            self.samples = int(min(max(int(samples), 0), self.ctx.max_samples))
            if self.samples == 1:
                self.samples = 0
            self.prog = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
            self._white = self.ctx.texture((1, 1), 4, b"\xff\xff\xff\xff")
            self._uniforms = {name: self.prog[name] for name in (
                "u_mvp", "u_nmat", "u_opacity", "u_unlit", "u_use_tex", "u_ambient", "u_light")}
            self.prog["u_tex"].value = 0
            # fixed state of this (private) context
            self.ctx.blend_func = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA,
                                   moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA)
            self.ctx.front_face = "ccw"
            self.ctx.cull_face = "back"
        except Exception as e:
            self.ctx.release()
            raise RendererError(f"OpenGL setup failed: {e}") from e
        self._meshes: dict = {}
        self._dead_keys: list = []
        self._fbos: dict = {}
        self._outputs: list = []
        self._closed = False
        self.renderer_name = self.ctx.info.get("GL_RENDERER", "?")
        log.info("GL renderer %dx%d on %s, %d samples", width, height, self.renderer_name, self.samples)

    # -- caches -------------------------------------------------------------------------------
    def _mesh_gpu(self, mesh) -> _MeshGPU:
        g = self._meshes.get(mesh.key)
        if g is not None:
            if g.mesh_ref() is mesh:
                return g
            # another MeshData with the same key (e.g. made by dataclasses.replace): rebuild
            self._meshes.pop(mesh.key).release()
        n = len(mesh.vertices)
        data = np.empty((n, 12), np.float32)
        data[:, 0:3] = mesh.vertices
        data[:, 3:6] = mesh.normals
        data[:, 6:10] = mesh.colors
        data[:, 10:12] = mesh.uv if mesh.uv is not None else 0.0
        g = _MeshGPU()
        g.mesh_ref = weakref.ref(mesh)
        ctx = self.ctx
        g.vbo = ctx.buffer(data.tobytes())
        g.ibo = ctx.buffer(np.ascontiguousarray(mesh.faces, dtype=np.uint32).tobytes())
        g.vao = ctx.vertex_array(
            self.prog, [(g.vbo, "3f 3f 4f 2f", "in_pos", "in_normal", "in_color", "in_uv")],
            index_buffer=g.ibo, index_element_size=4,
        )
        g.n_index = int(mesh.faces.size)
        g.single_layer = mesh_is_single_layer(mesh)
        g.texture = None
        if mesh.texture is not None and mesh.uv is not None:
            tex = np.ascontiguousarray(mesh.texture[::-1])  # GL row 0 = bottom (v = 0)
            h, w = tex.shape[:2]
            g.texture = ctx.texture((w, h), 4, tex.tobytes(), alignment=1)
            g.texture.build_mipmaps()
            g.texture.filter = (self._mgl.LINEAR_MIPMAP_LINEAR, self._mgl.LINEAR)
            g.texture.anisotropy = 8.0
            # wrap only textures that tile: an image on a quad must not bleed across its edges
            tiles = bool(np.any(mesh.uv < -1e-4) or np.any(mesh.uv > 1.0 + 1e-4))
            g.texture.repeat_x = g.texture.repeat_y = tiles
        self._meshes[mesh.key] = g
        weakref.finalize(mesh, self._dead_keys.append, mesh.key)
        return g

    def _release_dead(self):
        while self._dead_keys:
            key = self._dead_keys.pop()
            g = self._meshes.get(key)
            if g is not None and g.mesh_ref() is None:
                g.release()
                del self._meshes[key]

    def _framebuffers(self, w: int, h: int) -> _Framebuffers:
        fb = self._fbos.pop((w, h), None)
        if fb is None:
            ctx = self.ctx
            fb = _Framebuffers()
            fb.resolve = ctx.framebuffer(ctx.renderbuffer((w, h), 4), ctx.depth_renderbuffer((w, h)))
            if self.samples:
                fb.msaa = ctx.framebuffer(ctx.renderbuffer((w, h), 4, samples=self.samples),
                                          ctx.depth_renderbuffer((w, h), samples=self.samples))
            else:
                fb.msaa = None
            fb.color = np.empty((h, w, 4), np.uint8)
            fb.depth = np.empty((h, w), np.float32)
            if len(self._fbos) >= _FBO_CACHE:  # drop the least recently used
                self._fbos.pop(next(iter(self._fbos))).release()
        self._fbos[(w, h)] = fb  # most recently used last
        return fb

    # -- drawing ------------------------------------------------------------------------------
    def _render_pinhole(self, items, intrinsics, T_world_camera, near, far, ambient, light):
        if self._closed:
            raise RendererError("GLRenderer.render() called after close()")
        w, h = intrinsics.width, intrinsics.height
        out = self._take_output(h, w)
        rgba, depth = out.rgba, out.depth
        T_cw = invert(T_world_camera)
        rect = screen_rect(items, intrinsics, T_world_camera, near, T_camera_world=T_cw, points_of=self._hull_points)
        if rect is None:
            return _seal(rgba), _seal(depth)
        # draw into a framebuffer just big enough for the items' screen rectangle (sizes rounded
        # up to _FBO_STEP_PX so a few cached framebuffers serve every frame), with the principal
        # point shifted by the rectangle's offset: the pixels are those of a full-frame render,
        # while clearing, multisample resolve and readback cost in proportion to the overlay
        x0, y0, x1, y1 = rect
        fw, fh = min(_fbo_side(x1 - x0 + 1), w), min(_fbo_side(y1 - y0 + 1), h)
        x0, y0 = min(x0, w - fw), min(y0, h - fh)
        sub = Intrinsics(fw, fh, intrinsics.fx, intrinsics.fy, intrinsics.cx - x0, intrinsics.cy - y0)
        PC = projection_matrix_gl(sub, near, far) @ CV_FROM_GL  # OpenCV camera -> clip
        try:
            with self.ctx:  # make this renderer's context current (several may exist)
                self._release_dead()
                fb = self._framebuffers(fw, fh)
                target = fb.msaa if fb.msaa is not None else fb.resolve
                ctx, mgl, u = self.ctx, self._mgl, self._uniforms
                target.use()
                target.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                ctx.enable_only(mgl.DEPTH_TEST)
                culling = blending = False
                u["u_ambient"].value = float(ambient)
                u["u_light"].value = (float(light[0]), float(light[1]), float(light[2]))
                for it in items:
                    mesh = it.mesh
                    g = self._mesh_gpu(mesh)
                    T_co = T_cw @ it.T_world_object
                    u["u_mvp"].write((PC @ T_co).T.astype(np.float32).tobytes())
                    u["u_nmat"].write(normal_matrix(T_co[:3, :3]).T.astype(np.float32).tobytes())
                    u["u_opacity"].value = float(min(max(it.opacity, 0.0), 1.0))
                    u["u_unlit"].value = bool(mesh.unlit)
                    u["u_use_tex"].value = g.texture is not None
                    (g.texture or self._white).use(0)
                    if culling == mesh.double_sided:
                        culling = not mesh.double_sided
                        (ctx.enable if culling else ctx.disable)(mgl.CULL_FACE)
                    translucent = it.opacity < 1.0 or self._is_translucent(mesh)
                    if blending != translucent:
                        # opaque fragments (alpha exactly 1) replace what is below: no blending
                        # work per sample for them
                        blending = translucent
                        (ctx.enable if blending else ctx.disable)(mgl.BLEND)
                    if translucent and not g.single_layer:
                        # depth pre-pass: only the item's front-most surface is blended (no inner
                        # faces showing through), as in the software renderer
                        target.color_mask = (False, False, False, False)
                        target.use()
                        g.vao.render(mgl.TRIANGLES, vertices=g.n_index)
                        target.color_mask = (True, True, True, True)
                        target.use()
                        ctx.depth_func = "<="
                        g.vao.render(mgl.TRIANGLES, vertices=g.n_index)
                        ctx.depth_func = "<"
                    else:
                        g.vao.render(mgl.TRIANGLES, vertices=g.n_index)
                if culling:
                    ctx.disable(mgl.CULL_FACE)
                if fb.msaa is not None:
                    ctx.copy_framebuffer(fb.resolve, fb.msaa)
                fb.resolve.read_into(fb.color, components=4, alignment=1)
                fb.resolve.read_into(fb.depth, components=1, attachment=-1, dtype="f4", alignment=1)
        except RendererError:
            raise
        except Exception as e:
            raise RendererError(f"OpenGL rendering failed: {e}") from e
        # GL row 0 is the bottom row: flip while copying into the output rectangle
        out.rect = (slice(y0, y0 + fh), slice(x0, x0 + fw))
        out_rgba = rgba[y0:y0 + fh, x0:x0 + fw]
        out_rgba[...] = fb.color[::-1]
        _unpremultiply_inplace(out_rgba)
        out_depth = depth[y0:y0 + fh, x0:x0 + fw]
        out_depth[...] = gl_depth_to_metric(fb.depth[::-1], near, far)
        _fill_edge_depth(out_depth, out_rgba[:, :, 3])
        del out_rgba, out_depth
        return _seal(rgba), _seal(depth)

    def _drawn_box(self, rgba: np.ndarray):
        for out in self._outputs:
            if out.rgba is rgba:   # only out.rect was drawn into; the rest is zero
                return out.rect if out.rect is not None else (slice(0, 0), slice(0, 0))
        return None

    def _take_output(self, h: int, w: int) -> _Output:
        """Zeroed full-size output arrays, writable until returned.

        Outputs are returned read-only and reused only once nothing references them any more
        (CPython reference counts), so to a caller every result is a new array. Reuse avoids
        zeroing and page-faulting two full frames per render; only the rectangle written last
        time is cleared."""
        for out in self._outputs:
            if out.rgba.shape[:2] == (h, w) and out.unreferenced():
                out.rgba.setflags(write=True)
                out.depth.setflags(write=True)
                if out.rect is not None:
                    out.rgba[out.rect] = 0
                    out.depth[out.rect] = 0
                    out.rect = None
                return out
        out = _Output(h, w)
        if len(self._outputs) >= _OUTPUT_POOL:
            self._outputs.pop(0)
        self._outputs.append(out)
        return out

    def close(self) -> None:
        """Release every GL object and the context (idempotent)."""
        super().close()
        if self._closed:
            return
        self._closed = True
        try:
            with self.ctx:
                for g in self._meshes.values():
                    g.release()
                self._meshes.clear()
                for fb in self._fbos.values():
                    fb.release()
                self._outputs.clear()
                self._fbos.clear()
                self.prog.release()
                self._white.release()
            self.ctx.release()
        except Exception as e:  # pragma: no cover - best effort at shutdown
            log.warning("error while releasing the GL context: %s", e)

    def __del__(self):  # pragma: no cover - interpreter shutdown order varies
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass


def _fbo_side(n: int) -> int:
    """Framebuffer side for ``n`` pixels: a multiple of 16, never a power of two.

    llvmpipe compiles a shader variant per power-of-two-ness of a sampled texture's sides (the
    multisample resolve samples the framebuffer), each ~0.1 s; one kind of size needs one."""
    n = -(-n // _FBO_STEP_PX) * _FBO_STEP_PX
    while n & (n - 1) == 0:
        n += _FBO_STEP_PX
    return n


def _seal(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _unpremultiply_inplace(rgba: np.ndarray) -> None:
    """(H, W, 4) uint8 premultiplied (blending result) -> straight alpha, in place.

    Only pixels with 0 < alpha < 255 change; they are few (edges, translucent overlays)."""
    a = rgba[:, :, 3]
    partial = (a > 0) & (a < 255)
    if partial.any():
        ys, xs = np.nonzero(partial)
        px = rgba[ys, xs].astype(np.float32)
        rgb = px[:, :3] * (255.0 / px[:, 3:4])
        rgba[ys, xs, :3] = np.minimum(rgb + 0.5, 255.0).astype(np.uint8)


def _fill_edge_depth(depth: np.ndarray, alpha: np.ndarray) -> None:
    """Give partly covered edge pixels a depth (in place).

    The multisample resolve keeps one depth sample per pixel, so an antialiased edge pixel can
    have alpha > 0 but no depth; it gets the nearest depth of its 3x3 neighbourhood, so that
    occlusion tests in :func:`arkit.render.composite` also hide the overlay's soft edges.
    """
    holes = (alpha > 0) & (depth == 0)
    if not holes.any():
        return
    import cv2

    d = np.where(depth > 0, depth, np.float32(np.inf)).astype(np.float32)
    near = cv2.erode(d, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    fill = holes & np.isfinite(near)
    depth[fill] = near[fill]
