"""DepthCadence in a child process gives the worker thread's results, and reports failures."""

import numpy as np
import pytest

from arkit.core.depth_cadence import DepthCadence
from arkit.core.trackables import CameraState, TrackingState
from arkit.io.sources import open_source
from arkit.planes.stage import PlaneStage


def _frames_and_cameras(seq):
    with open_source(str(seq)) as src:
        frames = list(src)
    return frames, [CameraState(f.T_world_camera_recorded, TrackingState.TRACKING) for f in frames]


def _summary(out):
    return [(t.id, t.state, t.label, np.asarray(t.polygon_xz).tobytes(), np.asarray(t.T_world_local).tobytes())
            for t in out.trackables], out.changes


def test_process_mode_equals_thread_mode(marker_room_small):
    frames, cams = _frames_and_cameras(marker_room_small)
    results = {}
    for mode in ("thread", "process"):
        c = DepthCadence(PlaneStage(), 2, background=mode)
        assert c.mode == mode
        try:
            results[mode] = [_summary(c.update(f, cam)) for f, cam in zip(frames, cams)]
        finally:
            c.close()
        assert c.worker_cpu_s > 0
    assert results["process"] == results["thread"]
    assert results["thread"][:2] == [([], results["thread"][0][1])] * 2   # two frames late: nothing yet
    assert any(r[0] for r in results["thread"]), "planes were found"


class FailingStage(PlaneStage):
    def update(self, frame, camera):
        if frame.index == 3:
            raise ValueError("bad depth")
        return super().update(frame, camera)


def test_process_mode_errors_and_deaths_name_the_frame(marker_room_small):
    from arkit.core.errors import ArkitError

    frames, cams = _frames_and_cameras(marker_room_small)
    c = DepthCadence(FailingStage(), 2, background=True)
    with pytest.raises(ArkitError, match="planes stage failed on frame 3 in its worker process: .*ValueError: bad depth"):
        for f, cam in zip(frames, cams):
            c.update(f, cam)
    c.close()
    c = DepthCadence(PlaneStage(), 2, background="process")
    c.update(frames[0], cams[0])
    c._worker._proc.kill()
    with pytest.raises(ArkitError, match="planes stage failed on frame 0 in its worker process: .*exited unexpectedly"):
        for f, cam in zip(frames[1:], cams[1:]):
            c.update(f, cam)
    c.close()


def test_unpicklable_managers_fall_back_to_a_thread(caplog):
    stage = PlaneStage(point_source=lambda: np.zeros((0, 3)))
    c = DepthCadence(stage, 2, background=True)
    assert c.mode == "thread" and "cannot run in a child process" in caplog.text
    c.close()
    with pytest.raises(Exception, match="background must be"):
        DepthCadence(PlaneStage(), 2, background="fork")
