"""VisualTracker (monocular) on short slices of real videos (skipped when the data is absent).

- ``box.mp4`` (hand-held, a textured box; intrinsics of OpenCV's pose tutorial): a defined state
  on every frame, a map within the first frames and tracking on nearly all frames after it.
- ``vtest.avi`` (static camera, people walking): a defined state on every frame and, if the
  tracker builds a map at all, near-zero reported motion. A monocular map's unit is the median
  scene depth of its first two views, so 0.01 units per frame is 1 % of the scene depth: people
  walking must not move the camera by more than that per frame (median) nor drift by more
  than 0.05 units in total; rotation stays below 0.5 deg per frame.

A tracker must never raise on an image it cannot use (the two-view initialiser once raised a
``cv2.error`` from ``cv2.findEssentialMat`` on the static vtest view): any exception fails.
"""

import warnings

import numpy as np

from arkit.core import TrackingState
from arkit.core.camera import Intrinsics
from arkit.eval.trajectory import rotation_angles_rad
from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

BOX_K = Intrinsics(640, 480, 640 * 55 / 22.3, 480 * 55 / 14.9, 320.0, 240.0)   # OpenCV pose tutorial


def _frames(path, n, intrinsics=None):
    from arkit.io.video_source import VideoFileSource

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                     # the guessed-intrinsics warning
        out = []
        for f in VideoFileSource(path, intrinsics=intrinsics):
            out.append(f)
            if len(out) == n:
                break
    return out


def _track_all(frames):
    tracker = VisualTracker(VisualTrackerConfig(mode="mono"))
    return [tracker.track(f) for f in frames]


def test_box_video_reports_a_state_every_frame_and_keeps_tracking(shared_data):
    frames = _frames(shared_data("opencv_samples_data", "pose_box_tutorial", "box.mp4"), 16, BOX_K)
    outs = _track_all(frames)
    assert len(outs) == len(frames)
    states = [o.camera.tracking_state for o in outs]
    assert all(isinstance(s, TrackingState) for s in states)
    assert all(np.all(np.isfinite(o.camera.T_world_camera)) for o in outs)
    started = [i for i, s in enumerate(states) if s != TrackingState.NOT_INITIALIZED]
    assert started and started[0] <= 10, states                          # a map within a third of a second
    after = states[started[0]:]
    tracked = sum(s in (TrackingState.TRACKING, TrackingState.LIMITED) for s in after)
    assert tracked >= 0.9 * len(after), states
    for o, s in zip(outs, states):                                    # reasons explain non-TRACKING states
        assert (s == TrackingState.TRACKING) or o.camera.reason


def test_static_camera_vtest_reports_near_zero_motion(shared_data):
    frames = _frames(shared_data("opencv_samples_data", "video", "vtest.avi"), 30)
    outs = _track_all(frames)
    assert len(outs) == len(frames)
    states = [o.camera.tracking_state for o in outs]
    assert all(isinstance(s, TrackingState) for s in states)
    T = np.array([o.camera.T_world_camera for o in outs])
    assert np.all(np.isfinite(T))
    idx = [i for i, s in enumerate(states) if s in (TrackingState.TRACKING, TrackingState.LIMITED)]
    pairs = [(i, j) for i, j in zip(idx[:-1], idx[1:]) if j == i + 1]
    if not pairs:                         # no map from a static view: no motion reported at all
        assert all(np.allclose(t, np.eye(4)) for t in T[: (idx[0] if idx else len(T))])
        return
    i, j = np.array(pairs).T
    step = np.linalg.norm(T[j, :3, 3] - T[i, :3, 3], axis=1)
    rot = np.degrees(rotation_angles_rad(np.einsum("nji,njk->nik", T[i, :3, :3], T[j, :3, :3])))
    drift = np.linalg.norm(T[idx, :3, 3] - T[idx[0], :3, 3], axis=1)
    assert np.median(step) < 0.01 and drift.max() < 0.05, (step, drift)
    assert rot.max() < 0.5, rot
