"""Steps of :meth:`VisualTracker._track` that work on one frame: search of the last frame's
points, projection search helpers, the reference-keyframe fallback and the keyframe decision
(with new points and local bundle adjustment, synchronous or in the mapping thread).

A mixin of :class:`arkit.tracking.vslam.tracker.VisualTracker`: it reads the tracker's
``config``, ``map``, ``_K``, ``extractor`` and motion state and has no state of its own.
"""

from __future__ import annotations

import numpy as np

from arkit.tracking.vslam import local_mapping
from arkit.tracking.vslam.features import FrameFeatures
from arkit.tracking.vslam.frame_tracking import optimize_pose, pnp_ransac, project_points, search_by_projection
from arkit.tracking.vslam.initializer import match_two_views


class TrackingStepsMixin:
    """Per-frame tracking steps shared by :class:`VisualTracker` (see the module docstring)."""

    def _track_last_frame(self, T_cw, pid_last, feats, tree):
        c, K, m = self.config, self._K, self.map
        sig2 = self.extractor.level_sigma2
        taken = np.zeros(len(feats), bool)
        kp, pid = self._search(T_cw, pid_last, feats, tree, c.search_radius_px, taken, 100, 1.0)
        if len(kp) < 20:
            kp, pid = self._search(T_cw, pid_last, feats, tree, 2 * c.search_radius_px, taken, 100, 1.0)
        inl = np.zeros(len(kp), bool)
        if len(kp) >= 10:
            # two rounds suffice here: the local-map step re-optimises from this pose
            T_cw, inl = optimize_pose(K, T_cw, m.positions[pid], feats.uv[kp], 1 / sig2[feats.octave[kp]],
                                      feats.depth_m[kp], self._bf, rounds=2)
        return T_cw, kp, pid, inl

    def _search(self, T_cw, ids, feats, tree, radius, taken, max_hamming, ratio, return_visible=False):
        m = self.map
        pi, kpi = search_by_projection(self._K, T_cw, m.positions[ids], m.descriptors[ids], feats, tree, radius,
                                       self.extractor.level_scale, taken, max_hamming, ratio)
        if not return_visible:
            return kpi, ids[pi]
        uv, z = project_points(self._K, T_cw, m.positions[ids])
        K = self._K
        vis = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < K.width) & (uv[:, 1] >= 0) & (uv[:, 1] < K.height)
        return kpi, ids[pi], ids[vis]

    def _track_reference_keyframe(self, feats: FrameFeatures):
        """Fallback when the motion model fails: descriptor matching to the last keyframe + PnP."""
        m, K = self.map, self._K
        kf = m.keyframes[-1]
        obs = np.flatnonzero(kf.point_ids >= 0)
        obs = obs[m.alive[kf.point_ids[obs]]]
        sub = FrameFeatures(kf.uv[obs], kf.octave[obs], kf.desc[obs], kf.depth_m[obs])
        ia, ib = match_two_views(feats, sub, max_hamming=64, ratio=0.8)
        kp, pid = ia, kf.point_ids[obs[ib]]
        if len(kp) < 10:
            return None, kp, pid, np.zeros(len(kp), bool)
        T_cw, inl = pnp_ransac(K, m.positions[pid], feats.uv[kp], seed=self.config.seed)
        if T_cw is None:
            return None, kp, pid, inl
        T_cw, inl = optimize_pose(K, T_cw, m.positions[pid], feats.uv[kp],
                                  1 / self.extractor.level_sigma2[feats.octave[kp]], feats.depth_m[kp], self._bf)
        if inl.sum() < 10:
            return None, kp, pid, inl
        return T_cw, kp, pid, inl

    def _maybe_insert_keyframe(self, frame, feats, kp, pid, local_kfs):
        c, m = self.config, self.map
        if self._stale_depth:  # depth not taken with this image: no keyframe from it
            return
        # reference: the most inliers any frame had since the last keyframe (that keyframe's
        # points included); a keyframe when tracking fell well below it. Counting all the
        # keyframe's points instead (many are never re-observed) asked for one almost every frame
        self._kf_ref_inliers = max(self._kf_ref_inliers, len(pid))
        n_ref = self._kf_ref_inliers
        if self._mode != "rgbd":  # monocular: the reference keyframe's points (tuned on KITTI)
            rp = m.keyframes[-1].point_ids
            rp = rp[rp >= 0]
            n_ref = int(m.alive[rp].sum())
        n_tracked = len(pid)
        rgbd = self._mode == "rgbd"
        close = (feats.depth_m > 0.1) & (feats.depth_m < 3.0)
        tracked_mask = np.zeros(len(feats), bool)
        tracked_mask[kp] = True
        n_close_tracked = int((close & tracked_mask).sum())
        n_close_untracked = int((close & ~tracked_mask).sum())
        if not local_mapping.need_new_keyframe(
                n_tracked, n_ref, self._frames_since_kf, n_close_tracked, n_close_untracked,
                max_frames=c.max_frames_between_keyframes, ratio=0.75 if rgbd else 0.9, depth=rgbd):
            return
        point_ids = np.full(len(feats), -1, np.int64)
        point_ids[kp] = pid
        kf = local_mapping.make_keyframe(m, frame.index, self._T_wc_last, feats, point_ids)
        m.descriptors[pid] = feats.desc[kp]  # follow the points' appearance as the view changes
        if rgbd:
            local_mapping.points_from_depth(m, kf, self._K, max_depth_m=c.max_depth_m, max_new=len(feats))
        else:
            nbs = [k for k in local_kfs if k.id != kf.id][:3]
            local_mapping.triangulate_from_neighbours(m, kf, self._K, nbs, self.extractor.level_sigma2)
        local_mapping.cull_points(m, kf.id)
        if c.local_ba:
            args = (m, self._K, self.extractor.level_sigma2)
            kw = dict(center_kf=kf, n_local=c.local_keyframes if rgbd else 5, bf=self._bf, max_nfev=c.ba_iterations)
            if c.async_mapping:
                if self._mapper is None:
                    from arkit.tracking.vslam.mapping_worker import MappingWorker

                    self._mapper = MappingWorker(self._lock)
                self._mapper.request(lambda: local_mapping.prepare_local_ba(*args, **kw),
                                     lambda problem, sol: local_mapping.apply_local_ba(m, problem, sol))
            else:
                local_mapping.local_bundle_adjustment(*args, **kw)
                self._T_wc_last = kf.T_world_camera.copy()
        self._frames_since_kf = 0
        self._kf_ref_inliers = 0

