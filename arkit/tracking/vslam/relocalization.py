"""Relocalisation: find keyframes that share descriptors with the current frame, then PnP
RANSAC on their map points and motion-only optimisation."""

from __future__ import annotations

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.tracking.vslam.features import FrameFeatures
from arkit.tracking.vslam.frame_tracking import optimize_pose, pnp_ransac
from arkit.tracking.vslam.map import KeyFrame, Map


class Relocalizer:
    """Keyframe retrieval by descriptor matching and pose recovery by PnP RANSAC.

    Parameters
    ----------
    max_candidates : int
        Keyframes scored per attempt (evenly spread over the map plus the most recent ones).
    n_best : int
        Best-scored keyframes tried with PnP.
    min_inliers : int
        Inliers after optimisation needed to accept a pose.
    seed : int
        RANSAC seed.
    """

    def __init__(self, max_candidates: int = 24, n_best: int = 3, min_inliers: int = 30, seed: int = 0):
        self.max_candidates = max_candidates
        self.n_best = n_best
        self.min_inliers = min_inliers
        self.seed = seed

    def _candidates(self, m: Map) -> list[KeyFrame]:
        kfs = m.keyframes
        if len(kfs) <= self.max_candidates:
            return list(kfs)
        half = self.max_candidates // 2
        spread = np.linspace(0, len(kfs) - half - 1, self.max_candidates - half).astype(int)
        idx = sorted(set(spread.tolist()) | set(range(len(kfs) - half, len(kfs))))
        return [kfs[i] for i in idx]

    def relocalize(self, m: Map, K: Intrinsics, feats: FrameFeatures, level_sigma2: np.ndarray, bf: float = 0.0):
        """Try to recover the pose of a frame.

        Returns
        -------
        (T_camera_world (4, 4) or None, kp_idx (K,) int64, point_ids (K,) int64, reason str)
        """
        import cv2

        empty = np.zeros(0, np.int64)
        if len(feats) < self.min_inliers:
            return None, empty, empty, f"too few features to relocalise ({len(feats)})"
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        scored = []
        for kf in self._candidates(m):
            obs = np.flatnonzero(kf.point_ids >= 0)
            obs = obs[m.alive[kf.point_ids[obs]]]
            if len(obs) < self.min_inliers:
                continue
            knn = matcher.knnMatch(feats.desc, kf.desc[obs], k=2)
            pairs = [(mm[0].queryIdx, mm[0].trainIdx) for mm in knn
                     if len(mm) == 2 and mm[0].distance <= 64 and mm[0].distance < 0.75 * mm[1].distance]
            if len(pairs) >= self.min_inliers // 2:
                p = np.array(pairs, np.int64)
                scored.append((len(p), kf.id, p[:, 0], kf.point_ids[obs[p[:, 1]]]))
        if not scored:
            return None, empty, empty, "no keyframe shares enough features"
        scored.sort(key=lambda s: (-s[0], s[1]))
        best_n = 0
        for n, _, kp, pid in scored[: self.n_best]:
            _, first = np.unique(kp, return_index=True)
            kp, pid = kp[first], pid[first]
            T, inl = pnp_ransac(K, m.positions[pid], feats.uv[kp], seed=self.seed)
            if T is None or inl.sum() < self.min_inliers // 2:
                continue
            T, inl = optimize_pose(K, T, m.positions[pid], feats.uv[kp], 1.0 / level_sigma2[feats.octave[kp]],
                                   feats.depth_m[kp], bf)
            best_n = max(best_n, int(inl.sum()))
            if inl.sum() >= self.min_inliers:
                return T, kp[inl], pid[inl], ""
        return None, empty, empty, f"relocalisation failed ({best_n} inliers < {self.min_inliers})"
