"""Depth route for model targets: find a known rigid object in an RGB-D frame by registering
points sampled on its mesh to the frame's point cloud (Open3D).

Coarse-to-fine, as Open3D's global registration pipeline: (optionally the scene's dominant
plane, the support, is removed first), both clouds are voxel-downsampled (``voxel_m``), FPFH
features are matched and seeded RANSAC runs (3-point samples, edge-length and distance
checkers) give candidate poses; point-to-plane ICP at a finer voxel refines each and the one
that explains most of the scene wins.

>>> model = sample_model_points(trimesh.load("knot.ply"), 4000)              # doctest: +SKIP
>>> scene = depth_to_points(depth_m, intrinsics)                            # doctest: +SKIP
>>> reg = register_model(model, scene, voxel_m=0.01)                        # doctest: +SKIP
>>> reg.T_camera_model, reg.fitness, reg.inlier_rmse_m                      # doctest: +SKIP

The model's points must be in metres, in the model frame the caller wants ``T_camera_model``
for (e.g. :attr:`arkit.recognition.model_targets.ModelTarget.mesh_vertices_m`'s frame).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError, FrameError, MissingDependencyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRegistration:
    """Result of :func:`register_model`.

    Parameters
    ----------
    T_camera_model : (4, 4) float64
        Pose of the model in the scene cloud's frame (the camera, for a depth frame).
    fitness : float
        Fraction of downsampled model points with a scene point within ``2 * voxel_m`` (ICP).
    inlier_rmse_m : float
        RMS distance of those correspondences.
    coarse_ms, refine_ms : float
        Time of the FPFH + RANSAC stage and of ICP.
    """

    T_camera_model: np.ndarray
    fitness: float
    inlier_rmse_m: float
    coarse_ms: float
    refine_ms: float


def _o3d():
    try:
        import open3d as o3d
    except ImportError as e:  # pragma: no cover - open3d is a declared dependency
        raise MissingDependencyError(f"the depth route of model targets needs open3d ({e}); pip install open3d") from None
    return o3d


def sample_model_points(mesh, n_points: int = 5000, seed: int = 0, return_normals: bool = False):
    """(n_points, 3) float64 points sampled uniformly (by area) on a trimesh mesh, seeded; with
    ``return_normals`` also their (n_points, 3) face normals (outward for a consistently wound mesh)."""
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ArkitError(f"expected a trimesh.Trimesh with triangles, got {type(mesh).__name__}")
    pts, face = trimesh.sample.sample_surface(mesh, int(n_points), seed=int(seed))
    pts = np.asarray(pts, np.float64)
    return (pts, np.asarray(mesh.face_normals, np.float64)[face]) if return_normals else pts


def depth_to_points(depth_m: np.ndarray, intrinsics: Intrinsics, mask=None, max_depth_m: float = 10.0) -> np.ndarray:
    """Back-project valid depth pixels (0 = invalid) to camera-frame points (N, 3) float64.

    Parameters
    ----------
    depth_m : (H, W) float32
    intrinsics : Intrinsics
        Of the depth image's size.
    mask : (H, W) bool, optional
        Only these pixels (e.g. a detection's region).
    """
    d = np.asarray(depth_m)
    if d.ndim != 2 or not np.issubdtype(d.dtype, np.floating):
        raise FrameError(f"depth must be (H, W) float metres, got dtype {d.dtype} shape {d.shape}")
    intrinsics.check_image(d, "depth")
    ok = np.isfinite(d) & (d > 0) & (d < max_depth_m)
    if mask is not None:
        ok &= np.asarray(mask, bool)
    v, u = np.nonzero(ok)
    return intrinsics.unproject(np.stack([u, v], 1).astype(np.float64), d[v, u])


def _prepare(o3d, points, voxel_m: float, with_features: bool, model: bool, normals=None):
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    if normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(np.asarray(normals, np.float64))
    pcd = pcd.voxel_down_sample(voxel_m)
    if normals is not None:  # given (outward mesh normals), averaged per voxel: renormalise
        n = np.asarray(pcd.normals)
        pcd.normals = o3d.utility.Vector3dVector(n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12))
    else:
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2.5 * voxel_m, max_nn=30))
    if model and normals is None:  # outward: away from the centroid (the scene's normals face the camera at the origin)
        pcd.orient_normals_towards_camera_location(np.asarray(pcd.get_center()))
        pcd.normals = o3d.utility.Vector3dVector(-np.asarray(pcd.normals))
    else:
        pcd.orient_normals_towards_camera_location(np.zeros(3))
    feat = None
    if with_features:
        feat = o3d.pipelines.registration.compute_fpfh_feature(
            pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=5.0 * voxel_m, max_nn=100))
    return pcd, feat


def register_model(model_points, scene_points, voxel_m: float = 0.01, seed: int = 0,
                   max_iterations: int = 100000, confidence: float = 0.999, icp_voxel_m: float | None = None,
                   T_init=None, remove_plane: bool = False, restarts: int = 3, mutual: bool = True,
                   model_normals=None) -> ModelRegistration:
    """Pose of a model point set in a scene point cloud: FPFH + RANSAC, then point-to-plane ICP.

    Parameters
    ----------
    model_points : (N, 3) float
        Points on the model (metres, model frame), e.g. :func:`sample_model_points`.
    scene_points : (M, 3) float
        The scene cloud (camera frame), e.g. :func:`depth_to_points`.
    voxel_m : float
        Downsampling voxel of the coarse stage; FPFH radius is 5 voxels. About 1/20 of the
        object's size works.
    seed : int
        Seeds Open3D's RANSAC (``open3d.utility.random.seed``).
    icp_voxel_m : float, optional
        Voxel of the ICP stage (default ``voxel_m / 2``).
    T_init : (4, 4), optional
        Skip the global stage and refine this pose (tracking with depth).
    remove_plane : bool
        Drop the scene's dominant plane (the support the object stands on) first (off by
        default: on arkit's synthetic checks it removed too much of boxy objects).
    mutual : bool
        Keep only mutual nearest FPFH matches (Open3D falls back to all matches when too few).
    model_normals : (N, 3) float, optional
        Outward normals of ``model_points`` (e.g. from :func:`sample_model_points` with
        ``return_normals=True``); estimated from the points otherwise.
    restarts : int
        RANSAC runs (seeds ``seed .. seed + restarts - 1``); after ICP the pose whose model
        explains the largest fraction of the scene points wins (guards against symmetric flips).

    Raises
    ------
    ArkitError
        Too few points in either cloud.
    """
    o3d = _o3d()
    model_points = np.asarray(model_points, np.float64).reshape(-1, 3)
    scene_points = np.asarray(scene_points, np.float64).reshape(-1, 3)
    for what, p in (("model", model_points), ("scene", scene_points)):
        if len(p) < 30:
            raise ArkitError(f"{what} point cloud has only {len(p)} points; registration needs at least 30 "
                             f"(check the depth image / mask and the mesh)")
    reg = o3d.pipelines.registration
    t0 = time.perf_counter()
    o3d.utility.random.seed(int(seed))
    if remove_plane:
        scene_points = _without_dominant_plane(o3d, scene_points, voxel_m)
    fine = float(icp_voxel_m) if icp_voxel_m else voxel_m / 2
    src_f, _ = _prepare(o3d, model_points, fine, False, True, model_normals)
    dst_f, _ = _prepare(o3d, scene_points, fine, False, False)
    if T_init is None:
        src, fs = _prepare(o3d, model_points, voxel_m, True, True, model_normals)
        dst, fd = _prepare(o3d, scene_points, voxel_m, True, False)
        dist = 1.5 * voxel_m
        candidates = []
        for k in range(max(1, int(restarts))):
            o3d.utility.random.seed(int(seed) + k)
            result = reg.registration_ransac_based_on_feature_matching(
                src, dst, fs, fd, mutual, dist, reg.TransformationEstimationPointToPoint(False), 3,
                [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(dist)],
                reg.RANSACConvergenceCriteria(int(max_iterations), float(confidence)))
            candidates.append(np.asarray(result.transformation, np.float64))
    else:
        candidates = [np.asarray(T_init, np.float64)]
    t1 = time.perf_counter()
    best = None
    for T in candidates:
        for radius in (2.0 * voxel_m, 2.0 * fine):
            icp = reg.registration_icp(src_f, dst_f, radius, T, reg.TransformationEstimationPointToPlane(),
                                       reg.ICPConvergenceCriteria(max_iteration=40))
            T = np.asarray(icp.transformation, np.float64)
        # score: how much of the scene (the object's visible surface) the posed model explains
        explained = reg.evaluate_registration(dst_f, src_f, 2.0 * fine, np.linalg.inv(T)).fitness
        if best is None or explained > best[0]:
            best = (explained, T, icp)
    t2 = time.perf_counter()
    _, T, icp = best
    log.debug("model registration: fitness %.3f rmse %.4f m", icp.fitness, icp.inlier_rmse)
    return ModelRegistration(T, float(icp.fitness), float(icp.inlier_rmse), (t1 - t0) * 1e3, (t2 - t1) * 1e3)


def _without_dominant_plane(o3d, points, voxel_m: float, min_fraction: float = 0.3) -> np.ndarray:
    """Drop the largest plane (floor, table, wall) when it holds at least ``min_fraction`` of the
    points (seeded RANSAC, ``voxel_m`` threshold); the object then dominates the features."""
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)).voxel_down_sample(voxel_m / 2)
    if len(pcd.points) < 100:
        return points
    _, inl = pcd.segment_plane(distance_threshold=voxel_m, ransac_n=3, num_iterations=500)
    if len(inl) < min_fraction * len(pcd.points):
        return points
    rest = np.delete(np.asarray(pcd.points), np.asarray(inl, np.int64), axis=0)
    return rest if len(rest) >= 30 else points
