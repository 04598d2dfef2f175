"""Relocalisation: retrieve keyframes that look like the current frame (bag of words,
:class:`~arkit.tracking.vslam.keyframe_database.KeyframeDatabase`), match the frame's
descriptors to each candidate's map points (RGB-D: and to its other keypoints with depth), PnP
RANSAC (seeded), motion-only optimisation of the RANSAC inliers, then a projection search of the
candidate's covisible map points and a final optimisation. RGB-D depth residuals are used only
for close keypoints (``close_depth_m``).

The recovered pose is expressed in the existing map's world frame, so anchors placed before the
loss keep their world positions.
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.tracking.vslam.features import FrameFeatures
from arkit.tracking.vslam.frame_tracking import optimize_pose, pnp_ransac, search_by_projection
from arkit.tracking.vslam.keyframe_database import KeyframeDatabase
from arkit.tracking.vslam.map import KeyFrame, Map

log = logging.getLogger(__name__)


class Relocalizer:
    """Keyframe retrieval by a bag-of-words index and pose recovery by PnP RANSAC.

    Parameters
    ----------
    max_candidates : int
        Keyframes taken from the index per attempt (plus the most recent keyframe).
    n_best : int
        Candidates (most descriptor matches first) tried with PnP.
    min_inliers : int
        Inliers after the final optimisation needed to accept a pose (map points plus, in
        RGB-D, keypoints of the candidate keyframe with depth but no map point).
    min_map_points : int
        Of those, map points needed (tracking continues from them).
    min_score : float
        Bag-of-words similarity below which a keyframe is not a candidate.
    search_radius_px : float
        Window of the projection search that adds the candidate's covisible map points.
    close_depth_m : float
        RGB-D: only keypoints measured closer than this add a depth residual to the pose
        optimisation (ORB-SLAM2's "close" points). Structured-light depth error grows with the
        square of the distance; on the slambook2 Kinect frames the 5-7 m points read 6-7% deeper
        from one view than another, which pulled wide-baseline poses 40-60 cm off.
    seed : int
        RANSAC and vocabulary seed.
    """

    def __init__(self, max_candidates: int = 8, n_best: int = 4, min_inliers: int = 30,
                 min_score: float = 0.0, search_radius_px: float = 8.0, close_depth_m: float = 3.5,
                 min_map_points: int = 10, seed: int = 0):
        self.max_candidates = max_candidates
        self.min_map_points = min_map_points
        self.close_depth_m = close_depth_m
        self.n_best = n_best
        self.min_inliers = min_inliers
        self.min_score = min_score
        self.search_radius_px = search_radius_px
        self.seed = seed
        self.database = KeyframeDatabase(seed=seed)
        self.last_candidates: list = []   # (score, keyframe id) of the last attempt, for diagnostics

    def candidates(self, m: Map, feats: FrameFeatures) -> list[KeyFrame]:
        """Keyframes worth matching: the index's best plus the most recent keyframe."""
        found = self.database.query(m, feats.desc, n=self.max_candidates, min_score=self.min_score)
        self.last_candidates = [(s, kf.id) for s, kf in found]
        kfs = [kf for _, kf in found]
        if m.keyframes and all(kf.id != m.keyframes[-1].id for kf in kfs):
            kfs.append(m.keyframes[-1])
        return kfs

    def relocalize(self, m: Map, K: Intrinsics, feats: FrameFeatures, level_sigma2: np.ndarray, bf: float = 0.0,
                   level_scale: np.ndarray | None = None):
        """Try to recover the pose of a frame against the map.

        Parameters
        ----------
        m : Map
        K : Intrinsics
            Ideal pinhole of the (undistorted) features.
        feats : FrameFeatures
        level_sigma2 : (L,) float64
            Pixel variance per pyramid level.
        bf : float
            RGB-D virtual baseline times fx (0 for monocular).
        level_scale : (L,) float64, optional
            Scale per pyramid level (default ``sqrt(level_sigma2)``).

        Returns
        -------
        (T_camera_world (4, 4) or None, kp_idx (K,) int64, point_ids (K,) int64, reason str)
        """
        empty = np.zeros(0, np.int64)
        if len(feats) < self.min_inliers:
            return None, empty, empty, f"too few features to relocalise ({len(feats)})"
        if level_scale is None:
            level_scale = np.sqrt(level_sigma2)
        scored = []
        for kf in self.candidates(m, feats):
            kp, pid, X = self._match_keyframe(m, kf, feats, K if bf > 0 else None)
            if len(kp) >= max(10, self.min_inliers // 2):
                scored.append((len(kp), kf.id, kf, kp, pid, X))
        if not scored:
            return None, empty, empty, "no keyframe shares enough features"
        scored.sort(key=lambda s: (-s[0], s[1]))
        best_n, best_mapped = 0, 0
        inv_s2 = 1.0 / level_sigma2
        depth = np.where(feats.depth_m < self.close_depth_m, feats.depth_m, 0.0)
        for _, _, kf, kp, pid, X in scored[: self.n_best]:
            T, inl = pnp_ransac(K, X, feats.uv[kp], seed=self.seed, iterations=500)
            if T is None or inl.sum() < 10:
                continue
            # refine on the RANSAC inliers only: with the ~50% outliers of a wide-baseline
            # match set, a Huber-weighted optimisation over all matches drifts off the PnP pose
            kp, pid, X = kp[inl], pid[inl], X[inl]
            T, inl = optimize_pose(K, T, X, feats.uv[kp], inv_s2[feats.octave[kp]], depth[kp], bf)
            if inl.sum() < 10:
                continue
            kp, pid, X = kp[inl], pid[inl], X[inl]
            # more matches: the map points of the candidate and its covisible keyframes, by projection
            mapped = pid >= 0
            T, kp, pid, n_total = self._grow_by_projection(m, K, kf, feats, T, kp[mapped], pid[mapped],
                                                           kp[~mapped], X[~mapped], level_scale, inv_s2, bf, depth)
            if (n_total, len(kp)) > (best_n, best_mapped):
                best_n, best_mapped = n_total, len(kp)
            if n_total >= self.min_inliers and len(kp) >= self.min_map_points:
                log.debug("relocalised against keyframe %d with %d inliers (%d map points)", kf.id, n_total, len(kp))
                return T, kp, pid, ""
        if best_n >= self.min_inliers:
            return None, empty, empty, (f"relocalisation failed ({best_n} inliers but only {best_mapped} of them "
                                        f"map points < {self.min_map_points})")
        return None, empty, empty, f"relocalisation failed ({best_n} inliers < {self.min_inliers})"

    @staticmethod
    def _match_keyframe(m: Map, kf: KeyFrame, feats: FrameFeatures, K: Intrinsics | None = None):
        """Ratio-test matches of the frame's descriptors to the keyframe's live map points and,
        with ``K`` (RGB-D), to its other keypoints that have depth (back-projected with the
        keyframe's pose; point id -1). Those keypoints are often beyond ``max_depth_m`` of the
        map (a far wall carries most of the texture of the slambook2 Kinect frames) and make
        the PnP of a wide-baseline frame possible when the map points alone are too few.

        Returns ``(kp_idx (M,) int64, point_ids (M,) int64, X_world (M, 3) float64)``."""
        import cv2

        none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)))
        pid_all = np.where(kf.point_ids >= 0, kf.point_ids, -1)
        live = pid_all >= 0
        live[live] = m.alive[pid_all[live]]
        use = live.copy()
        if K is not None:
            use |= kf.depth_m > 0
        obs = np.flatnonzero(use)
        if len(obs) < 2 or len(feats) < 2:
            return none
        knn = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(feats.desc, kf.desc[obs], k=2)
        pairs = [(mm[0].queryIdx, mm[0].trainIdx) for mm in knn
                 if len(mm) == 2 and mm[0].distance <= 64 and mm[0].distance < 0.75 * mm[1].distance]
        if not pairs:
            return none
        p = np.array(pairs, np.int64)
        j = obs[p[:, 1]]
        _, first = np.unique(j, return_index=True)   # one frame keypoint per keyframe keypoint
        p, j = p[first], j[first]
        pid = np.where(live[j], pid_all[j], -1)
        # one frame keypoint per map point too (a keyframe may hold duplicates of a point)
        key = np.where(pid >= 0, pid, -2 - j)
        _, first = np.unique(key, return_index=True)
        first.sort()
        p, j, pid = p[first], j[first], pid[first]
        X = np.zeros((len(j), 3))
        if np.any(live[j]):
            X[live[j]] = m.positions[pid[live[j]]]
        if np.any(~live[j]):
            unmapped = j[~live[j]]
            Xc = K.unproject(kf.uv[unmapped], kf.depth_m[unmapped])
            X[~live[j]] = Xc @ kf.T_world_camera[:3, :3].T + kf.T_world_camera[:3, 3]
        return p[:, 0], pid.astype(np.int64), X

    def _grow_by_projection(self, m, K, kf, feats, T, kp, pid, kp_x, X_x, level_scale, inv_s2, bf, depth):
        """Add the map points of ``kf`` and its covisible keyframes found by projection, then
        optimise with them and the keyframe-depth matches ``(kp_x, X_x)``.

        Returns ``(T, kp, pid, n_inliers)``: map-point matches only, and the inlier count with
        the keyframe-depth matches."""
        from scipy.spatial import cKDTree

        kfs = [kf] + [k for k in m.covisible_keyframes(pid, 5) if k.id != kf.id]
        ids = np.unique(np.concatenate([k.point_ids[k.point_ids >= 0] for k in kfs]))
        ids = np.setdiff1d(ids[m.alive[ids]], pid)
        taken = np.zeros(len(feats), bool)
        taken[kp] = True
        taken[kp_x] = True
        pi, kpi = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(ids):
            pi, kpi = search_by_projection(K, T, m.positions[ids], m.descriptors[ids], feats, cKDTree(feats.uv),
                                           self.search_radius_px, level_scale, taken, 80, 0.9)
        if len(pi) == 0 and len(kp_x) == 0:
            return T, kp, pid, len(kp)
        kp2 = np.concatenate([kp, kpi, kp_x])
        pid2 = np.concatenate([pid, ids[pi], np.full(len(kp_x), -1, np.int64)])
        X2 = np.concatenate([m.positions[pid], m.positions[ids[pi]], X_x])
        T2, inl = optimize_pose(K, T, X2, feats.uv[kp2], inv_s2[feats.octave[kp2]], depth[kp2], bf)
        if inl.sum() >= len(kp) + len(kp_x) // 2:
            keep = inl & (pid2 >= 0)
            return T2, kp2[keep], pid2[keep], int(inl.sum())
        return T, kp, pid, len(kp) + len(kp_x)
