"""RecordedPoseTracker on a synthetic stream."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import TrajectoryError
from arkit.core.frame import Frame
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.core.trackables import TrackingState
from arkit.io.trajectory_formats import Trajectory
from arkit.tracking.base import Tracker
from arkit.tracking.recorded import NO_POSE_REASON, RecordedPoseTracker

K = Intrinsics(16, 12, 20.0, 20.0, 8.0, 6.0)
IMG = np.zeros((12, 16, 3), np.uint8)


def pose(i):
    return from_rt(rotvec_to_matrix([0.0, 0.05 * i, 0.0]), [0.1 * i, 0.0, 0.02 * i])


def frame(i, t=None, with_pose=False):
    return Frame(i, 0.1 * i if t is None else t, IMG, K, T_world_camera_recorded=pose(i) if with_pose else None)


def test_poses_from_frames_with_gaps():
    tracker = RecordedPoseTracker()
    assert isinstance(tracker, Tracker)
    has_pose = [False, False, True, True, False, True]
    states = []
    for i, h in enumerate(has_pose):
        cam = tracker.track(frame(i, with_pose=h)).camera
        states.append(cam.tracking_state)
        if h:
            np.testing.assert_array_equal(cam.T_world_camera, pose(i))
            assert cam.reason == ""
        else:
            assert cam.reason == NO_POSE_REASON
        if i == 4:  # LOST keeps the last known pose
            np.testing.assert_array_equal(cam.T_world_camera, pose(3))
    S = TrackingState
    assert states == [S.NOT_INITIALIZED, S.NOT_INITIALIZED, S.TRACKING, S.TRACKING, S.LOST, S.TRACKING]
    tracker.reset()
    assert tracker.track(frame(7)).camera.tracking_state == S.NOT_INITIALIZED


def test_poses_from_trajectory_by_timestamp():
    # trajectory at 10 Hz starting at 0.3 s on the frame clock, given out of order
    n = 8
    times = 0.3 + 0.1 * np.arange(n)
    traj = Trajectory(times[::-1], np.stack([pose(i) for i in range(n)])[::-1])
    tracker = RecordedPoseTracker(traj, max_diff_s=0.02)
    S = TrackingState
    # frames at 0.0, 0.1, ... 1.4 s with a 5 ms clock jitter: frames 3..10 have a pose
    states = []
    for i in range(15):
        cam = tracker.track(frame(i, t=0.1 * i + 0.005 * (-1) ** i)).camera
        states.append(cam.tracking_state)
        if 3 <= i <= 10:
            np.testing.assert_array_equal(cam.T_world_camera, pose(i - 3))
        else:
            assert cam.reason == NO_POSE_REASON
    assert states == [S.NOT_INITIALIZED] * 3 + [S.TRACKING] * 8 + [S.LOST] * 4
    # frames 50 ms away from every trajectory stamp: outside the 20 ms tolerance
    tracker.reset()
    assert all(tracker.track(frame(i, t=0.1 * i + 0.05)).camera.tracking_state == S.NOT_INITIALIZED
               for i in range(3, 9))
    # ... but inside a 60 ms one (nearest stamp wins)
    loose = RecordedPoseTracker(traj, max_diff_s=0.06)
    np.testing.assert_array_equal(loose.track(frame(5, t=0.54)).camera.T_world_camera, pose(2))
    # a clock offset moves the frame times onto the trajectory's clock
    shifted = RecordedPoseTracker(traj, offset_s=0.3)
    np.testing.assert_array_equal(shifted.track(frame(2, t=0.2)).camera.T_world_camera, pose(2))


def test_poses_from_trajectory_by_index():
    traj = Trajectory(np.arange(3.0) * 7, np.stack([pose(i) for i in range(3)]))
    tracker = RecordedPoseTracker(traj, match="index")
    out = [tracker.track(frame(i, t=123.0)).camera for i in range(5)]
    assert [c.tracking_state for c in out] == [TrackingState.TRACKING] * 3 + [TrackingState.LOST] * 2
    np.testing.assert_array_equal(out[2].T_world_camera, pose(2))


def test_bad_configuration_raises():
    with pytest.raises(TrajectoryError):
        RecordedPoseTracker(match="nearest")
    with pytest.raises(TrajectoryError):
        RecordedPoseTracker(max_diff_s=-1)
    with pytest.raises(TrajectoryError):
        RecordedPoseTracker(np.eye(4))
