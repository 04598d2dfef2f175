"""OpenGL renderer: moderngl with a headless EGL context (a GPU when present, else llvmpipe).

One standalone context per renderer. GPU buffers and textures are cached per
:attr:`MeshData.key` (meshes are immutable) and released when the mesh is garbage-collected;
framebuffers are created once per canvas size. Each frame draws into a multisampled
framebuffer, resolves it into a plain one and reads colour and depth back.
"""

from __future__ import annotations

import logging
import weakref

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import RendererError
from arkit.render.base import Renderer, screen_rect
from arkit.render.projection import (
    gl_depth_to_metric, model_view_cv, mvp_from_model_view_cv, projection_matrix_gl,
)

log = logging.getLogger(__name__)

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

    __slots__ = ("vbo", "ibo", "vao", "texture", "n_index", "mesh_ref")

    def release(self):
        for obj in (self.vao, self.vbo, self.ibo, self.texture):
            if obj is not None:
                obj.release()


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
        except Exception as e:
            self.ctx.release()
            raise RendererError(f"OpenGL setup failed: {e}") from e
        self._meshes: dict = {}
        self._dead_keys: list = []
        self._fbos: dict = {}
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

    def _framebuffers(self, w: int, h: int):
        fb = self._fbos.get((w, h))
        if fb is None:
            ctx = self.ctx
            resolve = ctx.framebuffer(ctx.renderbuffer((w, h), 4), ctx.depth_renderbuffer((w, h)))
            if self.samples:
                msaa = ctx.framebuffer(ctx.renderbuffer((w, h), 4, samples=self.samples),
                                       ctx.depth_renderbuffer((w, h), samples=self.samples))
            else:
                msaa = None
            if len(self._fbos) >= 8:  # drop the least recently used
                self._release_fbos(self._fbos.pop(next(iter(self._fbos))))
            fb = (msaa, resolve)
        else:
            del self._fbos[(w, h)]
        self._fbos[(w, h)] = fb
        return fb

    @staticmethod
    def _release_fbos(pair):
        for fbo in pair:
            if fbo is not None:
                for att in list(fbo.color_attachments) + [fbo.depth_attachment]:
                    if att is not None:
                        att.release()
                fbo.release()

    # -- drawing ------------------------------------------------------------------------------
    def _render_pinhole(self, items, intrinsics, T_world_camera, near, far, ambient, light):
        if self._closed:
            raise RendererError("GLRenderer.render() called after close()")
        w, h = intrinsics.width, intrinsics.height
        rgba = np.zeros((h, w, 4), np.uint8)
        depth = np.zeros((h, w), np.float32)
        rect = screen_rect(items, intrinsics, T_world_camera, near)
        if rect is None:
            return rgba, depth
        # draw into a framebuffer just big enough for the items' screen rectangle (sizes rounded
        # up to 64 px so a few cached framebuffers serve every frame): clearing, resolving and
        # reading back then cost in proportion to the overlay, not to the frame
        x0, y0, x1, y1 = rect
        fw, fh = min(-(-(x1 - x0 + 1) // 64) * 64, w), min(-(-(y1 - y0 + 1) // 64) * 64, h)
        x0, y0 = min(x0, w - fw), min(y0, h - fh)
        sub = Intrinsics(fw, fh, intrinsics.fx, intrinsics.fy, intrinsics.cx - x0, intrinsics.cy - y0)
        try:
            with self.ctx:  # make this renderer's context current (several may exist)
                self._release_dead()
                msaa, resolve = self._framebuffers(fw, fh)
                target = msaa if msaa is not None else resolve
                ctx, mgl, prog = self.ctx, self._mgl, self.prog
                target.use()
                target.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                P = projection_matrix_gl(sub, near, far)
                ctx.enable(mgl.DEPTH_TEST | mgl.BLEND)
                ctx.blend_func = (mgl.SRC_ALPHA, mgl.ONE_MINUS_SRC_ALPHA, mgl.ONE, mgl.ONE_MINUS_SRC_ALPHA)
                ctx.front_face = "ccw"
                ctx.cull_face = "back"
                prog["u_ambient"].value = float(ambient)
                prog["u_light"].value = tuple(float(x) for x in light)
                prog["u_tex"].value = 0
                for it in items:
                    mesh = it.mesh
                    g = self._mesh_gpu(mesh)
                    T_co = model_view_cv(T_world_camera, it.T_world_object)
                    mvp = mvp_from_model_view_cv(P, T_co)
                    nmat = np.linalg.inv(T_co[:3, :3]).T
                    prog["u_mvp"].write(mvp.T.astype(np.float32).tobytes())
                    prog["u_nmat"].write(nmat.T.astype(np.float32).tobytes())
                    prog["u_opacity"].value = float(min(max(it.opacity, 0.0), 1.0))
                    prog["u_unlit"].value = bool(mesh.unlit)
                    prog["u_use_tex"].value = g.texture is not None
                    (g.texture or self._white).use(0)
                    if mesh.double_sided:
                        ctx.disable(mgl.CULL_FACE)
                    else:
                        ctx.enable(mgl.CULL_FACE)
                    if it.opacity < 1.0 or self._is_translucent(mesh):
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
                ctx.disable(mgl.CULL_FACE)
                if msaa is not None:
                    ctx.copy_framebuffer(resolve, msaa)
                color = np.frombuffer(resolve.read(components=4, alignment=1), np.uint8)
                dwin = np.frombuffer(resolve.read(components=1, attachment=-1, dtype="f4", alignment=1), np.float32)
        except RendererError:
            raise
        except Exception as e:
            raise RendererError(f"OpenGL rendering failed: {e}") from e
        sub_rgba = _unpremultiply(color.reshape(fh, fw, 4)[::-1])
        sub_depth = gl_depth_to_metric(dwin.reshape(fh, fw)[::-1], near, far)
        _fill_edge_depth(sub_depth, sub_rgba[:, :, 3])
        rgba[y0:y0 + fh, x0:x0 + fw] = sub_rgba
        depth[y0:y0 + fh, x0:x0 + fw] = sub_depth
        return rgba, depth

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
                for pair in self._fbos.values():
                    self._release_fbos(pair)
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


def _unpremultiply(premul: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 premultiplied (blending result) -> straight alpha, new contiguous array.

    Only pixels with 0 < alpha < 255 change; they are few (edges, translucent overlays)."""
    out = np.array(premul, order="C", copy=True)
    a = out[:, :, 3]
    partial = (a > 0) & (a < 255)
    if partial.any():
        ys, xs = np.nonzero(partial)
        px = out[ys, xs].astype(np.float32)
        rgb = px[:, :3] * (255.0 / px[:, 3:4])
        out[ys, xs, :3] = np.minimum(rgb + 0.5, 255.0).astype(np.uint8)
    return out


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
