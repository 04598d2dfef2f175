"""3D model targets: a textured rigid object described by ORB features registered to 3D points.

Two ways to get a :class:`ModelTarget`:

* :meth:`ModelTarget.from_opencv_tutorial` reads OpenCV's real-time pose tutorial files: a
  ``cv2.FileStorage`` YAML with nodes ``points_3d`` (N x 1, 3 floats), ``descriptors`` (N x 32
  uint8 ORB) (plus ``points_2d``/``keypoints`` of the training photo, unused) and the object's
  mesh (``box.ply``). Their unit is given by ``units_m`` (the tutorial uses centimetres).
* :meth:`ModelTarget.from_textured_mesh` renders views of a textured mesh with
  :func:`arkit.render.create_renderer`, detects ORB features in every view and lifts them to 3D
  with the rendered depth.

Model frame (what ``Trackable.T_world_local`` of an ``"object:<name>"`` trackable places):
origin at the centre of the object's **top face** (the bounding-box face in the ``up`` direction
of the source coordinates), **+Y out of that face**, +X along the source +X axis, +Z = X x Y.
A Y-up overlay anchored to the object therefore stands on its top face, as on a plane or marker.
For the tutorial box (``up="+z"``): X along the 18.9 cm side, Z along the 25.8 cm side (towards
the source's -y), Y along the 7.5 cm height.

>>> box = ModelTarget.from_opencv_tutorial("cookies_ORB.yml", "box.ply")       # doctest: +SKIP
>>> box.points_m.shape, box.descriptors.shape, box.extent_m                    # doctest: +SKIP
((5914, 3), (5914, 32), array([0.189, 0.075, 0.258]))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from arkit.core.errors import ArkitError, InputFileError
from arkit.core.pose import readonly, transform_points

log = logging.getLogger(__name__)

_AXES = {"+x": (0, 1.0), "-x": (0, -1.0), "+y": (1, 1.0), "-y": (1, -1.0), "+z": (2, 1.0), "-z": (2, -1.0)}

#: The 12 edges of a box as index pairs into :attr:`ModelTarget.corners_m`.
BOX_EDGES = ((0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7))
#: The 6 faces of a box as corner quads (counter-clockwise seen from outside) with outward axis.
BOX_FACES = (((0, 2, 3, 1), (-1, 0, 0)), ((4, 5, 7, 6), (1, 0, 0)), ((0, 1, 5, 4), (0, -1, 0)),
             ((2, 6, 7, 3), (0, 1, 0)), ((0, 4, 6, 2), (0, 0, -1)), ((1, 3, 7, 5), (0, 0, 1)))


class ModelTextureError(ArkitError):
    """A mesh has no texture, or too few features could be lifted from its views."""


@dataclass(frozen=True)
class ModelTarget:
    """A rigid object described by registered 3D features.

    Parameters
    ----------
    name : str
    points_m : (N, 3) float64
        Feature positions in the model frame (metres).
    descriptors : (N, 32) uint8
        ORB descriptors, one per point.
    normals : (N, 3) float64
        Outward surface normal at each point (model frame), used to skip points facing away.
    bounds_m : (2, 3) float64
        Axis-aligned bounding box (min, max) of the object in the model frame.
    mesh_vertices_m : (V, 3) float64, optional
        The object's mesh in the model frame (for drawing / depth registration).
    mesh_faces : (F, 3) int64, optional
    """

    name: str
    points_m: np.ndarray
    descriptors: np.ndarray
    normals: np.ndarray
    bounds_m: np.ndarray
    mesh_vertices_m: Optional[np.ndarray] = None
    mesh_faces: Optional[np.ndarray] = None

    def __post_init__(self):
        p = np.asarray(self.points_m, np.float64).reshape(-1, 3)
        d = np.ascontiguousarray(self.descriptors, np.uint8)
        if d.ndim != 2 or len(d) != len(p) or d.shape[1] != 32:
            raise ArkitError(f"model target {self.name!r}: need one 32-byte ORB descriptor per 3D point, got "
                             f"{len(p)} points and descriptors of shape {d.shape}")
        n = np.asarray(self.normals, np.float64).reshape(-1, 3)
        if len(n) != len(p):
            raise ArkitError(f"model target {self.name!r}: {len(n)} normals for {len(p)} points")
        object.__setattr__(self, "points_m", readonly(p))
        object.__setattr__(self, "descriptors", readonly(d))
        object.__setattr__(self, "normals", readonly(n))
        object.__setattr__(self, "bounds_m", readonly(np.asarray(self.bounds_m, np.float64).reshape(2, 3)))
        if self.mesh_vertices_m is not None:
            object.__setattr__(self, "mesh_vertices_m", readonly(np.asarray(self.mesh_vertices_m, np.float64).reshape(-1, 3)))
            object.__setattr__(self, "mesh_faces", readonly(np.asarray(self.mesh_faces, np.int64).reshape(-1, 3)))

    def __len__(self) -> int:
        return len(self.points_m)

    @property
    def extent_m(self) -> np.ndarray:
        """(3,) size of the bounding box along model X, Y, Z."""
        return self.bounds_m[1] - self.bounds_m[0]

    @property
    def corners_m(self) -> np.ndarray:
        """(8, 3) bounding-box corners; corner ``i`` takes max X if bit 2, max Y if bit 1, max Z if bit 0."""
        lo, hi = self.bounds_m
        return np.array([[(hi if i & 4 else lo)[0], (hi if i & 2 else lo)[1], (hi if i & 1 else lo)[2]]
                         for i in range(8)])

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_opencv_tutorial(cls, features_yml, mesh_ply, name: str = "box", units_m: float = 0.01,
                             up: str = "+z") -> "ModelTarget":
        """Load OpenCV's real-time pose tutorial model (``cookies_ORB.yml`` + ``box.ply``).

        Parameters
        ----------
        features_yml : path
            ``cv2.FileStorage`` file with ``points_3d`` and ``descriptors``.
        mesh_ply : path
            The object mesh (any format trimesh reads), same coordinates as the features.
        units_m : float
            Metres per file unit (0.01: the tutorial files are in centimetres).
        up : {"+x", "-x", "+y", "-y", "+z", "-z"}
            Source axis that becomes model +Y (out of the top face).

        Raises
        ------
        InputFileError
            Missing, unreadable or inconsistent files (named in the message).
        """
        points, desc = read_feature_yml(features_yml)
        verts, faces = read_mesh(mesh_ply)
        T = model_from_source(verts * units_m, up)
        p = transform_points(T, points * units_m)
        v = transform_points(T, verts * units_m)
        bounds = np.stack([v.min(0), v.max(0)])
        far = np.linalg.norm(np.maximum(np.maximum(bounds[0] - p, p - bounds[1]), 0), axis=1)
        if np.mean(far > 0.01 * np.linalg.norm(bounds[1] - bounds[0])) > 0.2:
            raise InputFileError(f"{features_yml}: most 3D points lie outside the mesh {mesh_ply}; check that both "
                                 f"files use the same coordinates and units (units_m={units_m})")
        return cls(name, p, desc, box_normals(p, bounds), bounds, v, faces)

    @classmethod
    def from_textured_mesh(cls, mesh, name: str = "object", n_views: int = 24, image_size=(640, 480),
                           hfov_deg: float = 50.0, fill: float = 0.6, features_per_view: int = 600,
                           min_points: int = 50, seed: int = 0, backend: str = "auto") -> "ModelTarget":
        """Build a model from a textured mesh by rendering views and lifting their ORB features.

        The model frame is the mesh's own frame (so it should already be Y-up, as glTF).

        Parameters
        ----------
        mesh : trimesh.Trimesh or path
            A mesh with a texture (uv + image).
        n_views : int
            Views on a sphere around the mesh (Fibonacci directions, upper hemisphere first).
        image_size : (int, int)
            ``(width, height)`` of the rendered views.
        fill : float
            Fraction of the image height the mesh's bounding sphere spans.
        min_points : int
            Fewer lifted features raise :class:`ModelTextureError`.

        Raises
        ------
        ModelTextureError
            The mesh has no texture or yields too few features.
        """
        tm = _as_trimesh(mesh)
        points, desc, normals = lift_rendered_views(tm, name, n_views, image_size, hfov_deg, fill, features_per_view,
                                                    seed, backend)
        if len(points) < min_points:
            raise ModelTextureError(f"mesh {name!r}: only {len(points)} features could be lifted from {n_views} "
                                    f"views, at least {min_points} are needed; use a mesh with a detailed texture")
        v = np.asarray(tm.vertices, np.float64)
        return cls(name, points, desc, normals, np.stack([v.min(0), v.max(0)]), v, np.asarray(tm.faces))


def view_directions(n_views: int) -> np.ndarray:
    """(n_views, 3) unit directions from the object towards the cameras: a Fibonacci spiral from
    the top (+Y) down to 30 deg below the horizon (deterministic)."""
    i = np.arange(n_views) + 0.5
    y = 1.0 - i / n_views * 1.5  # from ~+1 (above) to -0.5 (below the horizon)
    r = np.sqrt(np.clip(1.0 - y ** 2, 0.0, 1.0))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    d = np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=1)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def lift_rendered_views(tm, name: str, n_views: int, image_size, hfov_deg: float, fill: float,
                        features_per_view: int, seed: int, backend: str, max_octave: int = 3):
    """Render ``tm`` from ``n_views`` directions and lift ORB features to 3D with the rendered depth.

    Returns ``points (N, 3) float64, descriptors (N, 32) uint8, normals (N, 3) float64`` in the
    mesh frame. Features on depth edges (3x3 depth range > 1 % of the depth) are dropped.
    """
    import cv2

    from arkit.core.camera import Intrinsics
    from arkit.render import DrawItem, create_renderer, mesh_from_trimesh
    from arkit.synthetic.camera_paths import look_at_rotation

    md = mesh_from_trimesh(tm)
    if md.texture is None or md.uv is None:
        raise ModelTextureError(f"mesh {name!r} has no texture (uv + image); a model target is recognised by its "
                                f"texture, so load a textured mesh (e.g. OBJ+MTL+image or glTF with baseColorTexture)")
    w, h = int(image_size[0]), int(image_size[1])
    intr = Intrinsics.from_fov(w, h, hfov_deg, warn=False)
    v = np.asarray(tm.vertices, np.float64)
    centre = (v.min(0) + v.max(0)) / 2
    radius = float(np.linalg.norm(v - centre, axis=1).max())
    dist = radius / np.tan(np.arctan(h / 2 / intr.fy) * fill)
    orb = cv2.ORB_create(nfeatures=int(features_per_view), scaleFactor=1.2, nlevels=8, fastThreshold=12)
    cv2.setRNGSeed(int(seed))
    pts_all, desc_all = [], []
    with create_renderer(w, h, backend=backend, samples=4) as renderer:
        for d in view_directions(n_views):
            up = (0.0, 0.0, 1.0) if abs(d[1]) > 0.99 else (0.0, 1.0, 0.0)
            T_wc = np.eye(4)
            T_wc[:3, :3] = look_at_rotation(-d, up)[0]
            T_wc[:3, 3] = centre + dist * d
            out = renderer.render([DrawItem(md, np.eye(4))], intr, T_wc, ambient=0.7)
            gray = cv2.cvtColor(np.ascontiguousarray(out.rgba[:, :, :3]), cv2.COLOR_RGB2GRAY)
            mask = (out.depth_m > 0).astype(np.uint8) * 255
            kps, desc = orb.detectAndCompute(gray, cv2.erode(mask, np.ones((5, 5), np.uint8)))
            if desc is None:
                continue
            fine = np.array([k.octave <= max_octave for k in kps], bool)  # coarse levels lift imprecisely
            kps, desc = [k for k, f in zip(kps, fine) if f], desc[fine]
            if not kps:
                continue
            uv = np.array([k.pt for k in kps], np.float64)
            iu = np.clip(np.round(uv).astype(int), 1, [w - 2, h - 2])
            patch = np.stack([out.depth_m[iu[:, 1] + dy, iu[:, 0] + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 1)
            z = out.depth_m[iu[:, 1], iu[:, 0]].astype(np.float64)
            ok = (patch.min(1) > 0) & (patch.max(1) - patch.min(1) < 0.01 * z)
            if not ok.any():
                continue
            p_cam = intr.unproject(uv[ok], z[ok])
            pts_all.append(transform_points(T_wc, p_cam))
            desc_all.append(desc[ok])
    if not pts_all:
        return np.zeros((0, 3)), np.zeros((0, 32), np.uint8), np.zeros((0, 3))
    pts, desc = np.concatenate(pts_all), np.concatenate(desc_all)
    normals = surface_normals_near(tm, pts, seed)
    log.info("model %s: lifted %d features from %d views", name, len(pts), n_views)
    return pts, desc, normals


def surface_normals_near(tm, points, seed: int = 0, n_samples: int = 50000) -> np.ndarray:
    """Face normal (N, 3) of the mesh at each point (N, 3) lying on its surface: the face of the
    nearest of ``n_samples`` seeded surface samples (no spatial-index dependency)."""
    import trimesh
    from scipy.spatial import cKDTree

    samples, face = trimesh.sample.sample_surface(tm, int(n_samples), seed=int(seed))
    _, nn = cKDTree(samples).query(np.asarray(points, np.float64).reshape(-1, 3))
    return np.asarray(tm.face_normals, np.float64)[face[nn]]


def _as_trimesh(mesh):
    import trimesh

    if isinstance(mesh, (str, Path)):
        path = Path(mesh)
        if not path.is_file():
            raise InputFileError(f"mesh file not found: {path}")
        try:
            mesh = trimesh.load(str(path), force="mesh")
        except Exception as e:  # noqa: BLE001 - trimesh raises many types for corrupt files
            raise InputFileError(f"cannot load mesh {path}: {e}") from None
    if isinstance(mesh, trimesh.Scene):
        mesh = mesh.dump(concatenate=True)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputFileError(f"expected a triangle mesh, got {type(mesh).__name__} with no triangles")
    return mesh


def read_feature_yml(path):
    """Read ``points_3d`` (N, 3) float64 and ``descriptors`` (N, 32) uint8 from a cv2.FileStorage file.

    Raises
    ------
    InputFileError
        Missing file, not a FileStorage file, missing nodes or mismatched sizes.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"model feature file not found: {path}")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        ok = fs.isOpened()
    except (cv2.error, SystemError) as e:  # a parse error surfaces as SystemError in some cv2 builds
        why = str(e).strip().splitlines()[-1][-160:] if isinstance(e, cv2.error) else "it could not be parsed"
        raise InputFileError(f"{path} is not a readable OpenCV FileStorage (YAML/XML) file ({why}); write it with "
                             f"cv2.FileStorage, as OpenCV's pose tutorial does") from None
    if not ok:
        raise InputFileError(f"{path} is not a readable OpenCV FileStorage (YAML/XML) file")
    try:
        nodes = {k: fs.getNode(k).mat() for k in ("points_3d", "descriptors")}
    except (cv2.error, SystemError):
        nodes = {}
    finally:
        fs.release()
    missing = [k for k in ("points_3d", "descriptors") if nodes.get(k) is None]
    if missing:
        raise InputFileError(f"{path}: missing matrix node(s) {', '.join(missing)}; expected OpenCV's pose tutorial "
                             f"layout (points_3d: N x 1 3f, descriptors: N x 32 u)")
    pts = np.asarray(nodes["points_3d"], np.float64).reshape(-1, 3)
    desc = np.asarray(nodes["descriptors"])
    if desc.dtype != np.uint8 or desc.ndim != 2 or desc.shape[1] != 32 or len(desc) != len(pts):
        raise InputFileError(f"{path}: need N x 32 uint8 ORB descriptors for the {len(pts)} points_3d, got "
                             f"{desc.dtype} {desc.shape}")
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise InputFileError(f"{path}: points_3d is empty or has non-finite values")
    return pts, desc


def read_mesh(path):
    """Vertices (V, 3) float64 and faces (F, 3) int64 of a mesh file (PLY, OBJ, glTF, ...)."""
    tm = _as_trimesh(path)
    return np.asarray(tm.vertices, np.float64), np.asarray(tm.faces, np.int64)


def model_from_source(vertices, up: str = "+z") -> np.ndarray:
    """``T_model_source`` (4, 4): origin at the centre of the bounding-box face in direction ``up``,
    +Y = ``up``, +X = the first other source axis (x, or y when up is along x), +Z = X x Y.

    Parameters
    ----------
    vertices : (V, 3) float
        The object in source coordinates (metres).
    """
    if up not in _AXES:
        raise ArkitError(f"unknown up axis {up!r}; use one of {', '.join(_AXES)}")
    axis, sign = _AXES[up]
    v = np.asarray(vertices, np.float64).reshape(-1, 3)
    lo, hi = v.min(0), v.max(0)
    origin = (lo + hi) / 2
    origin[axis] = hi[axis] if sign > 0 else lo[axis]
    y = np.zeros(3)
    y[axis] = sign
    x = np.zeros(3)
    x[1 if axis == 0 else 0] = 1.0
    z = np.cross(x, y)
    R = np.stack([x, y, z])  # rows: model axes in source coordinates
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ origin
    return T


def box_normals(points, bounds) -> np.ndarray:
    """Outward normal (N, 3) of the nearest face of an axis-aligned box for each point (N, 3)."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    lo, hi = np.asarray(bounds, np.float64)
    d = np.concatenate([np.abs(p - lo), np.abs(p - hi)], axis=1)  # (N, 6): -x -y -z +x +y +z
    k = np.argmin(d, axis=1)
    n = np.zeros_like(p)
    n[np.arange(len(p)), k % 3] = np.where(k < 3, -1.0, 1.0)
    return n


def visible_box_edges(corners_camera: np.ndarray, outline_only: bool = False) -> list:
    """Edges (index pairs into the 8 corners) of a box that border a face seen from the camera.

    Parameters
    ----------
    corners_camera : (8, 3) float64
        Corners (order of :attr:`ModelTarget.corners_m`) in camera coordinates.
    outline_only : bool
        Only the outline (silhouette) edges: those between a visible and a hidden face, where
        the image shows the object against its background.
    """
    c = np.asarray(corners_camera, np.float64).reshape(8, 3)
    centre = c.mean(0)
    count: dict = {}
    for quad, _ in BOX_FACES:
        q = c[list(quad)]
        n = np.cross(q[1] - q[0], q[3] - q[0])
        if np.dot(n, q.mean(0) - centre) < 0:
            n = -n
        if np.dot(n, q.mean(0)) < 0:  # outward normal points towards the camera (origin)
            for i in range(4):
                a, b = quad[i], quad[(i + 1) % 4]
                key = (min(a, b), max(a, b))
                count[key] = count.get(key, 0) + 1
    return sorted(e for e, k in count.items() if k == 1 or not outline_only)


def select_targets(targets: Sequence[ModelTarget]) -> tuple:
    """Check a list of model targets (unique names) and return it as a tuple."""
    targets = tuple(targets)
    if not targets:
        raise ArkitError("no model targets given")
    names = [t.name for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ArkitError(f"model target names must be unique; repeated: {', '.join(dup)}")
    return targets


def edge_alignment_px(image: np.ndarray, corners_px: np.ndarray, edges, search_px: float = 10.0,
                      step_px: float = 2.0, min_gradient: float = 8.0, peak_fraction: float = 0.5) -> np.ndarray:
    """How far the image's edges lie from projected box edges, sample by sample.

    Along each projected edge (the middle 80 %, every ``step_px``) the colour gradient normal to
    the edge is sampled over ``+-search_px`` (per-channel Sobel on a 5x5-blurred image, combined
    as the root sum of squares, so a yellow box on a white table counts even where their grey
    levels agree). A sample's distance is the offset of the nearest local peak that reaches
    ``peak_fraction`` of the strongest one in its window (printed lines next to the true edge do
    not pull it away).

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB or (H, W) uint8
    corners_px : (8, 2) float
        Projected box corners.
    edges : sequence of (int, int)
        Corner index pairs to check (e.g. :func:`visible_box_edges` with ``outline_only``).
    min_gradient : float
        Samples whose strongest normal gradient (grey levels per pixel) is weaker have no edge
        nearby and get ``search_px``.

    Returns
    -------
    (S,) float64 distances in pixels (empty when no edge lies in the image).
    """
    import cv2

    img = np.asarray(image, np.float32)
    img = img[:, :, None] if img.ndim == 2 else img
    g = cv2.GaussianBlur(img, (5, 5), 0).reshape(img.shape)
    gx = np.stack([cv2.Sobel(g[:, :, k], cv2.CV_32F, 1, 0, ksize=3) / 8 for k in range(g.shape[2])], -1)
    gy = np.stack([cv2.Sobel(g[:, :, k], cv2.CV_32F, 0, 1, ksize=3) / 8 for k in range(g.shape[2])], -1)
    h, w = g.shape[:2]
    offs = np.arange(-search_px, search_px + 0.25, 0.5)
    out = []
    c = np.asarray(corners_px, np.float64).reshape(-1, 2)
    for a, b in edges:
        d = c[b] - c[a]
        length = float(np.linalg.norm(d))
        if length < 4 * step_px:
            continue
        t = np.arange(0.1, 0.9, step_px / length)
        n = np.array([-d[1], d[0]]) / length
        q = (c[a] + t[:, None] * d)[:, None, :] + offs[None, :, None] * n  # (S, O, 2)
        inside = ((q[..., 0] >= 1) & (q[..., 1] >= 1) & (q[..., 0] < w - 2) & (q[..., 1] < h - 2)).all(1)
        if not inside.any():
            continue
        q = np.ascontiguousarray(q[inside], np.float32)
        mx, my = np.ascontiguousarray(q[..., 0]), np.ascontiguousarray(q[..., 1])
        comp = [cv2.remap(np.ascontiguousarray(gx[:, :, k]), mx, my, cv2.INTER_LINEAR) * n[0]
                + cv2.remap(np.ascontiguousarray(gy[:, :, k]), mx, my, cv2.INTER_LINEAR) * n[1] for k in range(gx.shape[2])]
        strength = np.sqrt(np.sum(np.square(comp), axis=0))  # (S, O)
        peak = np.zeros_like(strength, bool)
        peak[:, 1:-1] = (strength[:, 1:-1] >= strength[:, :-2]) & (strength[:, 1:-1] >= strength[:, 2:])
        top = strength.max(axis=1, keepdims=True)
        ok = peak & (strength >= peak_fraction * top) & (strength >= min_gradient)
        dist = np.where(ok, np.abs(offs)[None, :], np.inf).min(axis=1)
        out.append(np.minimum(dist, search_px))
    return np.concatenate(out) if out else np.zeros(0)
