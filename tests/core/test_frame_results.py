import numpy as np
import pytest

from arkit.core import CameraState, Frame, FrameResult, Intrinsics, MarkerTrackable, TrackingState
from arkit.core.errors import FrameError, IntrinsicsError

K = Intrinsics(64, 48, 50, 50, 32, 24)


def test_frame_validation():
    img = np.zeros((48, 64, 3), np.uint8)
    f = Frame(0, 0.0, img, K, depth_m=np.ones((48, 64)))
    assert f.depth_m.dtype == np.float32 and not f.image_rgb.flags.writeable
    assert Frame(1, 0.1, np.zeros((48, 64), np.uint8), K).image_rgb.shape == (48, 64, 3)
    with pytest.raises(IntrinsicsError, match="64x48"):
        Frame(0, 0.0, np.zeros((40, 64, 3), np.uint8), K)
    with pytest.raises(FrameError, match="depth is 32x24"):
        Frame(0, 0.0, img, K, depth_m=np.ones((24, 32)))
    with pytest.raises(FrameError, match="uint8"):
        Frame(0, 0.0, img.astype(np.float32), K)
    with pytest.raises(FrameError, match="empty"):
        Frame(0, 0.0, np.zeros((0, 0, 3), np.uint8), K)
    nan_depth = np.full((48, 64), np.nan)
    assert np.all(Frame(0, 0.0, img, K, depth_m=nan_depth).depth_m == 0)


def test_result_is_frozen_and_serialisable():
    import json

    cam = CameraState(np.eye(4), TrackingState.TRACKING)
    m = MarkerTrackable("marker:3", "marker", np.eye(4), image_points_px=np.zeros((4, 2)), marker_id=3, size_m=0.05)
    r = FrameResult(0, 0.0, K, cam, trackables=(m,))
    with pytest.raises(Exception):
        r.index = 3
    with pytest.raises(ValueError):
        r.camera.T_world_camera[0, 0] = 2
    d = json.loads(json.dumps(r.to_dict()))
    assert d["trackables"][0]["marker_id"] == 3 and d["camera"]["tracking_state"] == "TRACKING"
    assert r.trackable("marker:3") is m and r.of_kind("plane") == ()
