"""Ray casts against feature points and triangle meshes (ARCore's point hits, ARKit's mesh hits).

Both return :class:`arkit.planes.raycast.RaycastHit` like the plane ray cast, so results can be
merged and sorted by distance (:func:`raycast_all`).
"""

from __future__ import annotations

import numpy as np

from arkit.core.errors import ArkitError
from arkit.planes.raycast import RaycastHit, raycast


def _unit_ray(origin, direction):
    o = np.asarray(origin, np.float64).reshape(3)
    d = np.asarray(direction, np.float64).reshape(3)
    n = np.linalg.norm(d)
    if not (np.isfinite(n) and n > 0) or not np.all(np.isfinite(o)):
        raise ArkitError(f"ray needs a finite origin and a non-zero direction, got origin {o} direction {d}")
    return o, d / n


def _pose_at(point, normal, ray_dir) -> np.ndarray:
    """+Y = ``normal``; +Z = the ray direction projected into the surface (so content faces the viewer)."""
    y = normal / np.linalg.norm(normal)
    z = -ray_dir - (y @ -ray_dir) * y
    if np.linalg.norm(z) < 1e-9:
        z = np.cross(y, [1.0, 0.0, 0.0]) if abs(y[0]) < 0.9 else np.cross(y, [0.0, 0.0, 1.0])
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, point
    return T


def raycast_points(points_world, ray_origin_world, ray_dir_world, *, radius_m: float = 0.02,
                   ids=None, max_distance_m: float = np.inf) -> list:
    """Hit feature points lying within ``radius_m`` of a ray.

    Parameters
    ----------
    points_world : (N, 3) float
        E.g. the tracker's map points.
    radius_m : float
        Perpendicular distance a point may have from the ray.
    ids : sequence, optional
        Names for the points (``trackable_id`` of the hits); default ``"point:<index>"``.

    Returns
    -------
    list of RaycastHit
        Nearest first; the pose faces back along the ray (+Y towards the camera).
    """
    o, d = _unit_ray(ray_origin_world, ray_dir_world)
    P = np.asarray(points_world, np.float64).reshape(-1, 3)
    t = (P - o) @ d
    perp = np.linalg.norm((P - o) - t[:, None] * d, axis=1)
    ok = np.flatnonzero((t > 0) & (t <= max_distance_m) & (perp <= radius_m))
    hits = []
    for i in ok[np.argsort(t[ok])]:
        name = f"point:{i}" if ids is None else str(ids[i])
        hits.append(RaycastHit(float(t[i]), P[i], _pose_at(P[i], -d, d), name))
    return hits


def raycast_mesh(mesh, ray_origin_world, ray_dir_world, *, T_world_mesh=None, name: str = "mesh",
                 max_distance_m: float = np.inf) -> list:
    """Hit a triangle mesh (a ``trimesh.Trimesh`` or an :class:`arkit.render.types.MeshData`).

    Returns every crossing nearest first; the hit pose has +Y = the face normal (towards the ray).
    """
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        mesh = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False)
    o, d = _unit_ray(ray_origin_world, ray_dir_world)
    T = np.eye(4) if T_world_mesh is None else np.asarray(T_world_mesh, np.float64)
    T_inv = np.linalg.inv(T)
    o_l = T_inv[:3, :3] @ o + T_inv[:3, 3]
    d_l = T_inv[:3, :3] @ d
    locs, _, tri = mesh.ray.intersects_location([o_l], [d_l], multiple_hits=True)
    hits = []
    for p_l, f in zip(locs, tri):
        p = T[:3, :3] @ p_l + T[:3, 3]
        dist = float((p - o) @ d)
        if not (0 < dist <= max_distance_m):
            continue
        n = T[:3, :3] @ mesh.face_normals[f]
        n = n if n @ d < 0 else -n
        hits.append(RaycastHit(dist, p, _pose_at(p, n, d), name))
    hits.sort(key=lambda h: h.distance_m)
    return hits


def raycast_all(ray_origin_world, ray_dir_world, *, planes=(), points_world=None, meshes=(),
                infinite: bool = False, radius_m: float = 0.02) -> list:
    """Planes, feature points and ``(name, mesh, T_world_mesh)`` meshes together, nearest first."""
    hits = list(raycast(planes, ray_origin_world, ray_dir_world, infinite=infinite)) if planes else []
    if points_world is not None and len(points_world):
        hits += raycast_points(points_world, ray_origin_world, ray_dir_world, radius_m=radius_m)
    for name, mesh, T in meshes:
        hits += raycast_mesh(mesh, ray_origin_world, ray_dir_world, T_world_mesh=T, name=name)
    hits.sort(key=lambda h: h.distance_m)
    return hits
