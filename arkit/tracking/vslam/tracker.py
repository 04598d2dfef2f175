"""``VisualTracker``: feature-based RGB-D / monocular tracking with an explicit state machine.

States (``arkit.core.TrackingState``)::

    NOT_INITIALIZED --(map built from an RGB-D frame / two views)--> TRACKING
    TRACKING <--> LIMITED        (enough inliers / few inliers, with the count in the reason)
    TRACKING | LIMITED --> LOST  (too few features or matches)
    LOST --(relocalisation against the keyframes)--> TRACKING

Per frame: ORB features (grid-bucketed) -> constant-velocity prediction -> search by projection
of the last frame's points -> motion-only optimisation -> search by projection of the local map
(points of the keyframes covisible with the frame) -> optimisation -> keyframe decision ->
(keyframe) new points from depth or triangulation, culling, local bundle adjustment (in the
tracking call, or in a background thread with ``async_mapping``).

RGB-D safeguards for real recordings: an image identical to the previous one (a re-sent frame)
returns the previous output unchanged; a depth image identical to the previous one (depth out
of sync with colour) is ignored for that frame, which then makes no keyframe; a weak frame
(fewer than ``weak_frame_inliers``) searches the local map again with a wider window; a pose
that jumps more than ``max_step_m`` in one frame is rejected (LOST, then relocalisation).
Keyframes: when the inliers fall below 75% of the most any frame had since the last keyframe
(RGB-D; mono: 90% of the last keyframe's points), after ``max_frames_between_keyframes``, or
(RGB-D) when few close points are tracked.
World frame: the first keyframe's camera (OpenCV axes). Monocular maps have arbitrary scale
(median depth of the first two-view map = 1).

Input contract: every frame has the first frame's intrinsics (otherwise
:class:`~arkit.core.errors.IntrinsicsError`; call :meth:`VisualTracker.reset` between streams)
and depth of the image's size (:class:`~arkit.core.errors.FrameError`). Distorted cameras
(radial-tangential or fisheye ``Intrinsics``) are tracked on the raw image: keypoints are
moved to the ideal pinhole camera (``Intrinsics.undistorted()``) before matching. A timestamp
more than ``max_time_gap_s`` after the previous one, or before it, drops the motion model for
that frame (tracked from the last pose and the local map), which is then LIMITED with the jump
in the reason. Black or textureless frames are LOST with a reason, never an exception.

The per-frame steps live in :mod:`.tracking_steps`, the settings in :mod:`.config`.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from arkit.core.errors import ArkitError, FrameError, IntrinsicsError
from arkit.core.frame import Frame
from arkit.core.pose import invert
from arkit.core.trackables import CameraState, TrackingState
from arkit.tracking.base import Tracker, TrackerOutput
from arkit.tracking.vslam import local_mapping
from arkit.tracking.vslam.config import VisualTrackerConfig
from arkit.tracking.vslam.features import FrameFeatures, OrbExtractor, undistort_features
from arkit.tracking.vslam.frame_tracking import optimize_pose, predict_constant_velocity
from arkit.tracking.vslam.initializer import initialize_two_view
from arkit.tracking.vslam.map import Map
from arkit.tracking.vslam.relocalization import Relocalizer
from arkit.tracking.vslam.tracking_steps import TrackingStepsMixin

log = logging.getLogger(__name__)


class VisualTracker(TrackingStepsMixin, Tracker):
    """ORB-SLAM-style visual tracker (RGB-D or monocular) behind arkit's :class:`Tracker` API.

    >>> tracker = VisualTracker(VisualTrackerConfig(mode="rgbd"))    # doctest: +SKIP
    >>> out = tracker.track(frame); out.camera.tracking_state        # doctest: +SKIP
    <TrackingState.TRACKING: 'TRACKING'>
    """

    def __init__(self, config: VisualTrackerConfig | None = None):
        self.config = config or VisualTrackerConfig()
        if self.config.mode not in ("auto", "rgbd", "mono"):
            raise ArkitError(f"VisualTrackerConfig.mode must be 'auto', 'rgbd' or 'mono', got {self.config.mode!r}")
        c = self.config
        self.extractor = OrbExtractor(n_features=c.n_features, n_levels=c.n_levels, depth_window_px=c.depth_window_px)
        self.relocalizer = Relocalizer(seed=c.seed)
        self._lock = threading.RLock()
        self._mapper = None
        self.reset()

    # -- public ---------------------------------------------------------------------------------
    def reset(self) -> None:
        if self._mapper is not None:
            self._mapper.wait_idle()
        self.map = Map()
        self.state = TrackingState.NOT_INITIALIZED
        self.reason = "waiting for the first frame"
        self._mode = None
        self._K = None
        self._intrinsics = None
        self._last_timestamp_s = None
        self._T_wc_last = np.eye(4)
        self._T_wc_prev = None
        self._last_kp = np.zeros(0, np.int64)   # keypoint indices matched in the last frame
        self._last_pid = np.zeros(0, np.int64)  # their map point ids
        self._ref_feats = None                   # monocular initialisation reference
        self._ref_frame = None
        self._frames_since_kf = 0
        self._kf_ref_inliers = 0
        self._lost_frames = 0
        self.n_inliers = 0
        self._prev_gray = None     # last frame's image, to detect repeated frames
        self._prev_depth = None
        self._prev_output = None
        self._stale_depth = False

    @property
    def mode(self):
        """``"rgbd"`` or ``"mono"`` once the first frame decided it (None before)."""
        return self._mode

    def save_map(self, path):
        """Save the map (points and keyframes) to ``.npz``; returns the path written."""
        self.wait_for_mapping()
        with self._lock:
            return self.map.save(path)

    def wait_for_mapping(self) -> None:
        """Block until background bundle adjustment (``async_mapping``) has caught up."""
        if self._mapper is not None:
            self._mapper.wait_idle()

    def close(self) -> None:
        """Stop the background mapping thread, if any (the tracker stays usable, synchronously
        mapping from then on only if ``async_mapping`` is off; otherwise a new thread starts)."""
        if self._mapper is not None:
            self._mapper.close()
            self._mapper = None

    @property
    def mapping_cpu_s(self) -> float:
        """CPU seconds spent by the background mapping thread so far (0 without one)."""
        return self._mapper.cpu_s if self._mapper is not None else 0.0

    def load_map(self, path, mode: str = "rgbd") -> None:
        """Replace the map with a saved one; the next frames relocalise against it (state LOST
        until they do)."""
        self.reset()
        self.map = Map.load(path)
        self._mode = mode
        if self.map.keyframes:
            self.state, self.reason = TrackingState.LOST, "map loaded, relocalising"
            self._T_wc_last = self.map.keyframes[-1].T_world_camera.copy()

    def track(self, frame: Frame) -> TrackerOutput:
        """Estimate the camera pose of ``frame``; never raises on unusable images."""
        with self._lock:
            return self._track_locked(frame)

    def _track_locked(self, frame: Frame) -> TrackerOutput:
        self._check_input(frame)
        if self._mode is None:
            self._mode = self.config.mode if self.config.mode != "auto" else ("rgbd" if frame.depth_m is not None else "mono")
        depth = frame.depth_m if self._mode == "rgbd" else None
        if self._mode == "rgbd" and depth is None:
            return self._output(TrackingState.LOST if self.map.keyframes else TrackingState.NOT_INITIALIZED,
                                "RGB-D tracker got a frame without depth")
        gray = frame.gray
        repeated = self._prev_gray is not None and np.array_equal(gray, self._prev_gray)
        stale_depth = (depth is not None and self._prev_depth is not None and not repeated
                       and np.array_equal(depth, self._prev_depth))
        self._prev_gray, self._prev_depth = gray, depth
        if repeated and self._prev_output is not None and self.state in (TrackingState.TRACKING, TrackingState.LIMITED):
            # a recorder that re-sent the previous image: nothing new to track, keep the pose
            # (the motion model is left as it was so the next frame predicts across the gap)
            return self._prev_output
        gap = self._time_gap_reason(frame)
        self._stale_depth = stale_depth
        feats = self.extractor.extract(gray, None if stale_depth else depth)
        if frame.intrinsics.has_distortion:  # keypoints to the ideal pinhole camera self._K
            feats = undistort_features(feats, frame.intrinsics)
        out = self._dispatch(frame, feats)
        if gap and out.camera.tracking_state == TrackingState.TRACKING:
            out = self._output(TrackingState.LIMITED, gap)
        self._prev_output = out
        return out

    def _check_input(self, frame: Frame) -> None:
        """Intrinsics must stay those of the first frame; depth must match the image."""
        K = frame.intrinsics
        if self._K is None:
            self._K = K.undistorted()
            self._intrinsics = K
        elif K != self._intrinsics:
            raise IntrinsicsError(
                f"frame {frame.index}: intrinsics changed from {self._intrinsics.to_dict()} to {K.to_dict()} "
                f"({frame.width}x{frame.height}); the map is tied to the first camera: call reset() between streams")
        if frame.depth_m is not None and np.shape(frame.depth_m) != (frame.height, frame.width):
            raise FrameError(f"frame {frame.index}: depth is {np.shape(frame.depth_m)[1]}x{np.shape(frame.depth_m)[0]} "
                             f"but the image is {frame.width}x{frame.height}; register depth to the colour image")

    def _time_gap_reason(self, frame: Frame) -> str:
        """Drop the constant-velocity prediction after a gap or a step back in time; returns
        the reason to report (empty when the timing is normal)."""
        last, self._last_timestamp_s = self._last_timestamp_s, frame.timestamp_s
        gap_s = self.config.max_time_gap_s
        if last is None or gap_s <= 0:
            return ""
        dt = frame.timestamp_s - last
        if dt < 0 or dt > gap_s:
            self._T_wc_prev = None
            return f"timestamp jump of {dt:+.3f} s: motion model reset"
        return ""

    def _dispatch(self, frame: Frame, feats: FrameFeatures) -> TrackerOutput:
        if self.state == TrackingState.NOT_INITIALIZED:
            return self._initialize(frame, feats)
        if self.state == TrackingState.LOST:
            return self._relocalize(frame, feats)
        return self._track(frame, feats)

    # -- states ---------------------------------------------------------------------------------
    def _output(self, state: TrackingState, reason: str = "") -> TrackerOutput:
        self.state, self.reason = state, reason
        if state != TrackingState.TRACKING and reason:
            log.debug("%s: %s", state.value, reason)
        return TrackerOutput(CameraState(self._T_wc_last, state, reason if state != TrackingState.TRACKING else ""))

    @property
    def _bf(self) -> float:
        return self.config.virtual_baseline_m * self._K.fx if self._mode == "rgbd" else 0.0

    def _initialize(self, frame: Frame, feats: FrameFeatures) -> TrackerOutput:
        c = self.config
        if self._mode == "rgbd":
            ok = (feats.depth_m > 0.1) & (feats.depth_m < c.max_depth_m)
            if ok.sum() < c.min_init_points:
                return self._output(TrackingState.NOT_INITIALIZED,
                                    f"too few features with depth to initialise ({int(ok.sum())} < {c.min_init_points})")
            kf = local_mapping.make_keyframe(self.map, frame.index, np.eye(4), feats, np.full(len(feats), -1))
            local_mapping.points_from_depth(self.map, kf, self._K, max_depth_m=c.max_depth_m, max_new=len(feats))
            self._set_last(np.eye(4), np.flatnonzero(kf.point_ids >= 0), kf.point_ids[kf.point_ids >= 0], reset_velocity=True)
            self.n_inliers = int((kf.point_ids >= 0).sum())
            log.info("RGB-D map initialised at frame %d with %d points", frame.index, self.n_inliers)
            return self._output(TrackingState.TRACKING)
        # monocular: two views
        if self._ref_feats is None or len(self._ref_feats) < c.min_init_points:
            self._ref_feats, self._ref_frame = feats, frame.index
            return self._output(TrackingState.NOT_INITIALIZED,
                                f"monocular initialisation: reference view has {len(feats)} features, move the camera")
        res, why = initialize_two_view(self._K, self._ref_feats, feats, self.extractor.level_sigma2, seed=c.seed,
                                       min_matches=c.min_init_points, min_points=c.min_init_points // 2)
        if res is None:
            if why.startswith("too few initialisation matches"):
                self._ref_feats, self._ref_frame = feats, frame.index
            return self._output(TrackingState.NOT_INITIALIZED, f"monocular initialisation: {why}")
        ref = self._ref_feats
        kf0 = local_mapping.make_keyframe(self.map, self._ref_frame, np.eye(4), ref, np.full(len(ref), -1))
        T_wc = invert(res.T_cw_cur)
        kf1 = local_mapping.make_keyframe(self.map, frame.index, T_wc, feats, np.full(len(feats), -1))
        ids = self.map.add_points(res.X_world, ref.desc[res.idx_ref], kf0.id)
        kf0.point_ids[res.idx_ref] = ids
        kf1.point_ids[res.idx_cur] = ids
        if c.local_ba:
            local_mapping.local_bundle_adjustment(self.map, self._K, self.extractor.level_sigma2, fixed_kf_ids={kf0.id})
        T_wc = kf1.T_world_camera.copy()
        self._T_wc_prev = None
        self._set_last(T_wc, res.idx_cur, ids, reset_velocity=True)
        self.n_inliers = len(ids)
        log.info("monocular map initialised (%s) between frames %d and %d with %d points",
                 res.model, self._ref_frame, frame.index, len(ids))
        return self._output(TrackingState.TRACKING)

    def _set_last(self, T_wc, kp, pid, reset_velocity=False):
        self._T_wc_prev = None if reset_velocity else self._T_wc_last.copy()
        self._T_wc_last = T_wc.copy()
        self._last_kp, self._last_pid = kp, pid

    def _lost(self, reason: str) -> TrackerOutput:
        # keep the last pose; velocity is forgotten
        self._T_wc_prev = None
        self._last_kp = self._last_pid = np.zeros(0, np.int64)
        return self._output(TrackingState.LOST, reason)

    def _relocalize(self, frame: Frame, feats: FrameFeatures) -> TrackerOutput:
        if len(feats) < self.config.min_limited_inliers:
            self._lost_frames += 1
            return self._lost(f"too few features ({len(feats)})")
        T_cw, kp, pid, why = self.relocalizer.relocalize(self.map, self._K, feats, self.extractor.level_sigma2, self._bf)
        if T_cw is None:
            self._lost_frames += 1
            c = self.config
            if self._mode == "rgbd" and c.reinit_after_lost_frames and self._lost_frames >= c.reinit_after_lost_frames:
                ok = (feats.depth_m > 0.1) & (feats.depth_m < c.max_depth_m)
                if ok.sum() >= c.min_init_points:
                    n_lost = self._lost_frames
                    kf = local_mapping.make_keyframe(self.map, frame.index, self._T_wc_last, feats,
                                                     np.full(len(feats), -1))
                    local_mapping.points_from_depth(self.map, kf, self._K, max_depth_m=c.max_depth_m, max_new=len(feats))
                    obs = np.flatnonzero(kf.point_ids >= 0)
                    self._set_last(self._T_wc_last, obs, kf.point_ids[obs], reset_velocity=True)
                    self._lost_frames, self._frames_since_kf = 0, 0
                    log.info("RGB-D map re-initialised at frame %d after %d lost frames", frame.index, n_lost)
                    return self._output(TrackingState.LIMITED, f"re-initialised after {n_lost} lost frames")
            return self._lost(why)
        self._lost_frames = 0
        self._set_last(invert(T_cw), kp, pid, reset_velocity=True)
        return self._track(frame, feats, T_cw_init=T_cw, relocalised=True)

    def _track(self, frame: Frame, feats: FrameFeatures, T_cw_init=None, relocalised: bool = False) -> TrackerOutput:
        c, K, m = self.config, self._K, self.map
        if len(feats) < c.min_limited_inliers:
            return self._lost(f"too few features ({len(feats)})")
        from scipy.spatial import cKDTree

        tree = cKDTree(feats.uv)
        sig2 = self.extractor.level_sigma2
        taken = np.zeros(len(feats), bool)
        # 1) last frame's points, projected with the motion model
        if T_cw_init is None:
            pid_last = self._last_pid[m.alive[self._last_pid]] if len(self._last_pid) else self._last_pid
            T_cw, kp, pid, inl = self._track_last_frame(
                invert(predict_constant_velocity(self._T_wc_last, self._T_wc_prev)), pid_last, feats, tree)
            if self._T_wc_prev is not None and inl.sum() < 0.4 * len(pid_last):
                # dropped or repeated frames break the constant-velocity model: try "no motion" too
                # (only when the prediction clearly failed: on 7-Scenes the motion model keeps
                # 50-70% of the last inliers and "no motion" then won by a handful of matches)
                alt = self._track_last_frame(invert(self._T_wc_last), pid_last, feats, tree)
                if alt[3].sum() > inl.sum():
                    T_cw, kp, pid, inl = alt
            if inl.sum() < 10:  # motion model failed: match against the last keyframe
                T_cw, kp, pid, inl = self._track_reference_keyframe(feats)
                if T_cw is None:
                    if self._mode == "rgbd":  # a wide-baseline jump: relocalise this very frame
                        self._T_wc_prev = None
                        self._last_kp = self._last_pid = np.zeros(0, np.int64)
                        return self._relocalize(frame, feats)
                    return self._lost(f"too few matches ({int(inl.sum())})")
            kp, pid = kp[inl], pid[inl]
        else:
            T_cw = T_cw_init
            kp, pid = self._last_kp, self._last_pid
        taken[kp] = True
        # 2) local map
        local_kfs = m.covisible_keyframes(pid, c.local_keyframes // 2)
        for kf in m.keyframes[-(c.local_keyframes - len(local_kfs)):]:
            if kf not in local_kfs:
                local_kfs.append(kf)
        local_ids = np.unique(np.concatenate([kf.point_ids[kf.point_ids >= 0] for kf in local_kfs])) if local_kfs else pid
        local_ids = local_ids[m.alive[local_ids]]
        local_ids = np.setdiff1d(local_ids, pid, assume_unique=True)
        radius = c.local_search_radius_px * (2.0 if relocalised else 1.0)
        kp2, pid2, n_visible_ids = self._search(T_cw, local_ids, feats, tree, radius, taken, 80, 0.8, return_visible=True)
        m.n_visible[n_visible_ids] += 1
        kp_all = np.concatenate([kp, kp2])
        pid_all = np.concatenate([pid, pid2])
        T_cw, inl = optimize_pose(K, T_cw, m.positions[pid_all], feats.uv[kp_all], 1 / sig2[feats.octave[kp_all]],
                                  feats.depth_m[kp_all], self._bf)
        kp_all, pid_all = kp_all[inl], pid_all[inl]
        if len(kp_all) < c.weak_frame_inliers:
            # weak frame (blur, fast turn): search the local map again around the refined pose
            # with a wider window and looser descriptor tests, then re-optimise
            taken = np.zeros(len(feats), bool)
            taken[kp_all] = True
            rest = np.setdiff1d(np.concatenate([local_ids, pid]), pid_all)
            kp3, pid3 = self._search(T_cw, rest, feats, tree, c.weak_search_radius_px, taken, 100, 0.9)
            if len(kp3):
                kp_w, pid_w = np.concatenate([kp_all, kp3]), np.concatenate([pid_all, pid3])
                T_w, inl_w = optimize_pose(K, T_cw, m.positions[pid_w], feats.uv[kp_w], 1 / sig2[feats.octave[kp_w]],
                                           feats.depth_m[kp_w], self._bf)
                if inl_w.sum() > len(kp_all):
                    T_cw, kp_all, pid_all = T_w, kp_w[inl_w], pid_w[inl_w]
        m.n_found[pid_all] += 1
        n = len(kp_all)
        log.debug("frame %d: %d features, %d last-frame matches, %d local-map matches of %d local points, %d inliers",
                  frame.index, len(feats), len(kp), len(kp2), len(local_ids), n)
        self.n_inliers = n
        if n < c.min_limited_inliers:
            return self._lost(f"too few matches ({n})")
        T_wc = invert(T_cw)
        if self._mode == "rgbd" and c.max_step_m > 0 and not relocalised:
            step_m = float(np.linalg.norm(T_wc[:3, 3] - self._T_wc_last[:3, 3]))
            if step_m > c.max_step_m:  # metric map: a jump no hand-held camera makes in one frame;
                # relocalise this very frame against the keyframes (LOST if that fails too)
                log.debug("frame %d: rejected a jump of %.1f cm, relocalising", frame.index, step_m * 100)
                self._T_wc_prev = None
                self._last_kp = self._last_pid = np.zeros(0, np.int64)
                return self._relocalize(frame, feats)
        self._set_last(T_wc, kp_all, pid_all, reset_velocity=relocalised)
        self._frames_since_kf += 1
        self._maybe_insert_keyframe(frame, feats, kp_all, pid_all, local_kfs)
        if n < c.min_tracking_inliers:
            return self._output(TrackingState.LIMITED, f"few tracked points ({n})")
        return self._output(TrackingState.TRACKING, "relocalised" if relocalised else "")
