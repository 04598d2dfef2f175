"""Relocalisation: retrieve keyframes that look like the current frame (bag of words,
:class:`~arkit.tracking.vslam.keyframe_database.KeyframeDatabase`), match the frame's
descriptors to each candidate's map points, PnP RANSAC (seeded), motion-only optimisation,
then a projection search of the candidate's covisible map points and a final optimisation.

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
        Inliers after the final optimisation needed to accept a pose.
    min_score : float
        Bag-of-words similarity below which a keyframe is not a candidate.
    search_radius_px : float
        Window of the projection search that adds the candidate's covisible map points.
    seed : int
        RANSAC and vocabulary seed.
    """

    def __init__(self, max_candidates: int = 8, n_best: int = 4, min_inliers: int = 30,
                 min_score: float = 0.0, search_radius_px: float = 8.0, seed: int = 0):
        self.max_candidates = max_candidates
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
            kp, pid = self._match_keyframe(m, kf, feats)
            if len(kp) >= max(10, self.min_inliers // 2):
                scored.append((len(kp), kf.id, kf, kp, pid))
        if not scored:
            return None, empty, empty, "no keyframe shares enough features"
        scored.sort(key=lambda s: (-s[0], s[1]))
        best_n = 0
        inv_s2 = 1.0 / level_sigma2
        for _, _, kf, kp, pid in scored[: self.n_best]:
            T, inl = pnp_ransac(K, m.positions[pid], feats.uv[kp], seed=self.seed)
            if T is None or inl.sum() < 10:
                continue
            T, inl = optimize_pose(K, T, m.positions[pid], feats.uv[kp], inv_s2[feats.octave[kp]], feats.depth_m[kp], bf)
            if inl.sum() < 10:
                continue
            kp, pid = kp[inl], pid[inl]
            # more matches: the map points of the candidate and its covisible keyframes, by projection
            kp, pid, T = self._grow_by_projection(m, K, kf, feats, T, kp, pid, level_scale, inv_s2, bf)
            best_n = max(best_n, len(kp))
            if len(kp) >= self.min_inliers:
                log.debug("relocalised against keyframe %d with %d inliers", kf.id, len(kp))
                return T, kp, pid, ""
        return None, empty, empty, f"relocalisation failed ({best_n} inliers < {self.min_inliers})"

    @staticmethod
    def _match_keyframe(m: Map, kf: KeyFrame, feats: FrameFeatures):
        """Ratio-test matches of the frame's descriptors to the keyframe's live map points."""
        import cv2

        obs = np.flatnonzero(kf.point_ids >= 0)
        obs = obs[m.alive[kf.point_ids[obs]]]
        if len(obs) < 2 or len(feats) < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        knn = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(feats.desc, kf.desc[obs], k=2)
        pairs = [(mm[0].queryIdx, mm[0].trainIdx) for mm in knn
                 if len(mm) == 2 and mm[0].distance <= 64 and mm[0].distance < 0.75 * mm[1].distance]
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        p = np.array(pairs, np.int64)
        pid = kf.point_ids[obs[p[:, 1]]]
        _, first = np.unique(pid, return_index=True)   # one keypoint per map point
        p, pid = p[first], pid[first]
        return p[:, 0], pid

    def _grow_by_projection(self, m, K, kf, feats, T, kp, pid, level_scale, inv_s2, bf):
        from scipy.spatial import cKDTree

        kfs = [kf] + [k for k in m.covisible_keyframes(pid, 5) if k.id != kf.id]
        ids = np.unique(np.concatenate([k.point_ids[k.point_ids >= 0] for k in kfs]))
        ids = np.setdiff1d(ids[m.alive[ids]], pid)
        if len(ids) == 0:
            return kp, pid, T
        taken = np.zeros(len(feats), bool)
        taken[kp] = True
        pi, kpi = search_by_projection(K, T, m.positions[ids], m.descriptors[ids], feats, cKDTree(feats.uv),
                                       self.search_radius_px, level_scale, taken, 80, 0.9)
        if len(pi) == 0:
            return kp, pid, T
        kp2, pid2 = np.concatenate([kp, kpi]), np.concatenate([pid, ids[pi]])
        T2, inl = optimize_pose(K, T, m.positions[pid2], feats.uv[kp2], inv_s2[feats.octave[kp2]], feats.depth_m[kp2], bf)
        if inl.sum() >= len(kp):
            return kp2[inl], pid2[inl], T2
        return kp, pid, T
