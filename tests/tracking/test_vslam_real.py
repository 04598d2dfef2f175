"""VisualTracker on a slice of real 7-Scenes RGB-D frames (skipped when the data is absent).

Threshold: on these first 30 frames (about 22 cm of hand-held motion) the default tracker
measured an SE(3)-aligned ATE of 0.58 cm; the ground truth itself (KinectFusion on the
unregistered depth camera) disagrees with colour-only PnP by 1-2 cm over 10-frame spans, so
2 cm leaves room for that and for platform differences while still failing on a broken
tracker (which drifts by many cm here).
"""

import numpy as np

from arkit.core import TrackingState
from arkit.eval.trajectory import ate
from arkit.io.trajectory_formats import Trajectory
from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig


def test_rgbd_ate_on_real_redkitchen_slice(shared_data):
    from arkit.io.readers.sevenscenes import SevenScenesSource

    frames = list(SevenScenesSource(shared_data("sevenscenes_redkitchen_a"), stop=30))
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd"))
    outs = [tracker.track(f) for f in frames]
    states = [o.camera.tracking_state for o in outs]
    assert states.count(TrackingState.TRACKING) >= 28, states
    ts = np.array([f.timestamp_s for f in frames])
    est = Trajectory(ts, np.array([o.camera.T_world_camera for o in outs]))
    gt = Trajectory(ts, np.array([f.T_world_camera_recorded for f in frames]))
    assert ate(est, gt, align="se3").rmse_m < 0.02


def test_rgbd_rpe_on_open3d_testdata_frames(shared_data):
    """5 rendered ICL-NUIM frames (2.4 cm / 0.7 deg apart) with their odometry.log poses: the
    default tracker measured 0.18-0.33 cm and 0.06-0.09 deg per pair; 1 cm / 0.3 deg fail a
    tracker that is off by a third of the motion."""
    from arkit.eval.trajectory import rpe
    from arkit.io.sources import open_source

    frames = list(open_source(shared_data("open3d_testdata_2019", "RGBD")))
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd"))
    outs = [tracker.track(f) for f in frames]
    assert all(o.camera.tracking_state == TrackingState.TRACKING for o in outs)
    ts = np.array([f.timestamp_s for f in frames])
    est = Trajectory(ts, np.array([o.camera.T_world_camera for o in outs]))
    gt = Trajectory(ts, np.array([f.T_world_camera_recorded for f in frames]))
    r = rpe(est, gt, delta=1, all_pairs=True)
    assert r.num_pairs == 4 and r.trans_max_m < 0.01 and r.rot_max_deg < 0.3


def test_rgbd_wide_baseline_slambook_frames_report_defined_states(shared_data):
    """slambook2 ch5: 5 real Kinect frames 23-73 cm and up to 25 deg apart. The tracker may lose
    them (it does today) but must report a defined state and a finite pose on each."""
    from arkit.io.sources import open_source

    frames = list(open_source(shared_data("slambook2_data", "ch5", "rgbd")))
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd"))
    outs = [tracker.track(f) for f in frames]
    assert outs[0].camera.tracking_state == TrackingState.TRACKING
    for o in outs:
        assert isinstance(o.camera.tracking_state, TrackingState) and np.all(np.isfinite(o.camera.T_world_camera))
        assert o.camera.tracking_state == TrackingState.TRACKING or o.camera.reason
