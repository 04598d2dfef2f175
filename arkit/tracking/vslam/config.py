"""Settings of :class:`arkit.tracking.vslam.tracker.VisualTracker`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VisualTrackerConfig:
    """Settings of :class:`VisualTracker` (defaults tuned on 7-Scenes RGB-D and KITTI mono).

    Parameters
    ----------
    mode : {"auto", "rgbd", "mono"}
        ``auto`` uses depth when the first frame has it.
    n_features : int
        ORB keypoints per frame.
    min_init_points : int
        Keypoints with depth (RGB-D) or triangulated points (mono) needed to start a map.
    min_tracking_inliers, min_limited_inliers : int
        Inliers for TRACKING; below ``min_limited_inliers`` the frame is LOST.
    search_radius_px, local_search_radius_px : float
        Search windows (level 0) for the last frame's points and for the local map.
    virtual_baseline_m : float
        RGB-D: baseline of the virtual stereo rig that turns depth into a third residual
        ``fx * b / z`` (pixels). Structured-light depth noise is roughly constant in inverse
        depth, so this residual has a constant sigma; 1.0 m (a strong depth term, ~1 px per
        1.7e-3 m^-1 of inverse depth) beat ORB-SLAM2's 0.08 m on the synthetic and 7-Scenes tests.
    max_depth_m : float
        RGB-D: depths beyond are ignored for new points (10 m: Kinect-class sensors report
        textured far walls that wide-baseline relocalisation needs; the inverse-depth residual
        already weights them down).
    local_keyframes : int
        Covisible keyframes whose points form the local map.
    local_ba : bool
        Run local bundle adjustment on each new keyframe.
    async_mapping : bool
        Run that bundle adjustment in a background thread (:class:`MappingWorker`) instead of
        inside :meth:`VisualTracker.track`; tracking then costs only the per-frame work, and
        results depend slightly on thread timing. Call :meth:`VisualTracker.close` when done.
    reinit_after_lost_frames : int
        RGB-D: after this many consecutive frames that neither track nor relocalise, start new
        map points from the current frame's depth at the last known pose (state LIMITED,
        reason "re-initialised after N lost frames"); 0 disables it.
    max_step_m : float
        RGB-D: a tracked pose more than this far from the previous one is rejected (state LOST,
        relocalisation follows); 0 disables the check.
    weak_frame_inliers, weak_search_radius_px : int, float
        A frame with fewer inliers searches the local map again with this wider window.
    depth_window_px : int
        Window in which keypoint depth must be smooth (see ``features.sample_depth``).
    max_time_gap_s : float
        A frame more than this after the previous one, or with an earlier timestamp, drops the
        constant-velocity prediction (tracked from the last pose with the local map instead)
        and is reported LIMITED with the gap in the reason; 0 disables the check.
    ba_iterations : int
        Levenberg-Marquardt iterations per round of local bundle adjustment (two rounds, with
        outlier removal in between, as ORB-SLAM's 5 + 10).
    seed : int
        Seed of every RANSAC.
    """

    mode: str = "auto"
    n_features: int = 1000
    n_levels: int = 8
    min_init_points: int = 100
    min_tracking_inliers: int = 50
    min_limited_inliers: int = 15
    search_radius_px: float = 15.0
    local_search_radius_px: float = 4.0
    virtual_baseline_m: float = 1.0
    max_depth_m: float = 10.0
    local_keyframes: int = 10
    max_frames_between_keyframes: int = 30
    depth_window_px: int = 7
    max_step_m: float = 0.05
    weak_frame_inliers: int = 150
    weak_search_radius_px: float = 10.0
    local_ba: bool = True
    async_mapping: bool = False
    reinit_after_lost_frames: int = 10
    max_time_gap_s: float = 1.0
    ba_iterations: int = 5
    seed: int = 0
