"""Keyframe decision, new map points (from depth or by triangulation), point culling and
local bundle adjustment (:mod:`arkit.tracking.vslam.local_ba`, re-exported here).

Runs inside :meth:`VisualTracker.track` whenever a keyframe is inserted, or, with
``VisualTrackerConfig(async_mapping=True)``, the bundle adjustment runs in a background thread
(:mod:`arkit.tracking.vslam.mapping_worker`) through :func:`prepare_local_ba` /
:meth:`LocalBAProblem.solve` / :func:`apply_local_ba`.
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.tracking.vslam.features import FrameFeatures
from arkit.tracking.vslam.local_ba import (  # noqa: F401  (re-exported)
    LocalBAProblem, apply_local_ba, local_bundle_adjustment, prepare_local_ba,
)

__all__ = ["need_new_keyframe", "make_keyframe", "points_from_depth", "cull_points", "triangulate_from_neighbours",
           "LocalBAProblem", "apply_local_ba", "local_bundle_adjustment", "prepare_local_ba"]
from arkit.tracking.vslam.map import KeyFrame, Map

log = logging.getLogger(__name__)


def need_new_keyframe(n_tracked: int, n_ref_tracked: int, frames_since_kf: int, n_close_tracked: int,
                      n_close_untracked: int, *, min_frames: int = 0, max_frames: int = 30,
                      ratio: float = 0.75, depth: bool = True) -> bool:
    """ORB-SLAM's keyframe criteria, simplified.

    A keyframe is inserted when tracking weakens relative to the reference keyframe
    (``n_tracked < ratio * n_ref_tracked``), when too many frames passed, or (RGB-D) when few
    close points are tracked while many close keypoints with depth could become new points.
    """
    if frames_since_kf < min_frames:
        return False
    if frames_since_kf >= max_frames:
        return True
    if n_tracked < ratio * n_ref_tracked:
        return True
    if depth and n_close_tracked < 100 and n_close_untracked > 70:
        return True
    return False


def make_keyframe(m: Map, frame_index: int, T_world_camera: np.ndarray, feats: FrameFeatures,
                  matched_point_ids: np.ndarray) -> KeyFrame:
    """Create and add a keyframe whose keypoint ``i`` observes ``matched_point_ids[i]`` (-1 none)."""
    kid = m.keyframes[-1].id + 1 if m.keyframes else 0
    kf = KeyFrame(kid, frame_index, T_world_camera.copy(), feats.uv.copy(), feats.octave.copy(),
                  feats.desc.copy(), feats.depth_m.copy(), matched_point_ids.astype(np.int64).copy())
    m.add_keyframe(kf)
    return kf


def points_from_depth(m: Map, kf: KeyFrame, K: Intrinsics, min_depth_m: float = 0.1, max_depth_m: float = 4.0,
                      max_new: int = 400) -> np.ndarray:
    """Back-project the keyframe's unmatched keypoints that have depth into new map points.

    The closest ``max_new`` keypoints are used (as ORB-SLAM2 for RGB-D). Returns the new ids."""
    cand = np.flatnonzero((kf.point_ids < 0) & (kf.depth_m > min_depth_m) & (kf.depth_m < max_depth_m))
    if len(cand) == 0:
        return np.zeros(0, np.int64)
    cand = cand[np.argsort(kf.depth_m[cand], kind="stable")[:max_new]]
    Xc = K.unproject(kf.uv[cand], kf.depth_m[cand])
    Xw = Xc @ kf.T_world_camera[:3, :3].T + kf.T_world_camera[:3, 3]
    ids = m.add_points(Xw, kf.desc[cand], kf.id)
    kf.point_ids[cand] = ids
    return ids


def cull_points(m: Map, current_kf_id: int, min_found_ratio: float = 0.25, min_obs: int = 2,
                grace_kfs: int = 2) -> int:
    """ORB-SLAM's recent-point culling. A point created less than ``grace_kfs`` keyframes ago is
    removed when it is found in fewer than ``min_found_ratio`` of the frames that predicted it in
    view; a point exactly ``grace_kfs`` keyframes old must be observed by ``min_obs`` keyframes.
    Older points are kept (bundle adjustment removes their outlier observations).
    Returns the number of points removed."""
    ids = m.alive_ids
    if len(ids) == 0:
        return 0
    age = current_kf_id - m.first_kf[ids]
    recent = age <= grace_kfs
    ids, age = ids[recent], age[recent]
    ratio = m.n_found[ids] / np.maximum(m.n_visible[ids], 1)
    obs = m.observation_counts()[ids]
    bad = (ratio < min_found_ratio) | ((age >= grace_kfs) & (obs < min_obs))
    m.remove_points(ids[bad])
    return int(bad.sum())


def triangulate_from_neighbours(m: Map, kf: KeyFrame, K: Intrinsics, neighbours: list[KeyFrame],
                                level_sigma2: np.ndarray, max_hamming: int = 50, min_parallax_deg: float = 1.0,
                                max_epipolar_px: float = 2.0) -> np.ndarray:
    """Monocular: match the keyframe's unmatched keypoints to each neighbour's unmatched ones
    (brute force, ratio test, epipolar check), triangulate, and keep points in front of both
    cameras with small reprojection error and enough parallax. Returns the new ids."""
    import cv2

    from arkit.tracking.vslam.initializer import triangulate

    new_ids = []
    Kmat = K.K
    Kinv = np.linalg.inv(Kmat)
    for nb in neighbours:
        a = np.flatnonzero(kf.point_ids < 0)
        b = np.flatnonzero(nb.point_ids < 0)
        if len(a) < 8 or len(b) < 8:
            continue
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        knn = matcher.knnMatch(kf.desc[a], nb.desc[b], k=2)
        pairs = [(mm[0].queryIdx, mm[0].trainIdx) for mm in knn
                 if len(mm) == 2 and mm[0].distance <= max_hamming and mm[0].distance < 0.8 * mm[1].distance]
        if len(pairs) < 8:
            continue
        ia = a[[p[0] for p in pairs]]
        ib = b[[p[1] for p in pairs]]
        # epipolar check with the fundamental matrix from the known poses
        T_b_a = nb.T_camera_world @ kf.T_world_camera
        R, t = T_b_a[:3, :3], T_b_a[:3, 3]
        tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
        F = Kinv.T @ tx @ R @ Kinv
        pa = np.c_[kf.uv[ia], np.ones(len(ia))]
        pb = np.c_[nb.uv[ib], np.ones(len(ib))]
        lines = pa @ F.T
        dist = np.abs((lines * pb).sum(1)) / np.maximum(np.hypot(lines[:, 0], lines[:, 1]), 1e-12)
        ok = dist < max_epipolar_px * np.sqrt(level_sigma2[nb.octave[ib]])
        ia, ib = ia[ok], ib[ok]
        if len(ia) == 0:
            continue
        Xw, good = triangulate(K, kf.T_camera_world, nb.T_camera_world, kf.uv[ia], nb.uv[ib],
                               level_sigma2[kf.octave[ia]], level_sigma2[nb.octave[ib]], min_parallax_deg)
        ia, ib, Xw = ia[good], ib[good], Xw[good]
        if len(ia) == 0:
            continue
        # a keypoint of kf may have been matched in several neighbours: first one wins
        fresh = kf.point_ids[ia] < 0
        ia, ib, Xw = ia[fresh], ib[fresh], Xw[fresh]
        ids = m.add_points(Xw, kf.desc[ia], kf.id)
        kf.point_ids[ia] = ids
        nb.point_ids[ib] = ids
        new_ids.append(ids)
    return np.concatenate(new_ids) if new_ids else np.zeros(0, np.int64)
