"""DepthCadence in a child process gives the worker thread's results, and reports failures."""

import numpy as np
import pytest

from arkit.core.depth_cadence import DepthCadence
from arkit.core.trackables import CameraState, TrackableState, TrackingState
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


def test_process_mode_follows_tracking_changes_between_depth_frames(marker_room_small):
    # frames without depth are sent to the child only when the tracking state changes; the
    # planes still pause and resume on the same frames as on a thread
    frames, cams = _frames_and_cameras(marker_room_small)
    lost = {5, 6, 9}
    cams = [CameraState(c.T_world_camera, TrackingState.LOST) if i in lost else c for i, c in enumerate(cams)]
    results, sent = {}, {}
    for mode in ("thread", "process"):
        c = DepthCadence(PlaneStage(), 3, background=mode)
        try:
            results[mode] = [_summary(c.update(f, cam)) for f, cam in zip(frames, cams)]
            sent[mode] = c._worker.submitted if mode == "process" else None
        finally:
            c.close()
    assert results["process"] == results["thread"]
    paused = [i for i, r in enumerate(results["thread"]) if r[0] and r[0][0][1] == TrackableState.PAUSED]
    assert paused and all(i - 3 in lost for i in paused)   # three frames late
    assert any(r[1].updated for i, r in enumerate(results["thread"]) if i - 3 in lost)
    # depth frames (every 3rd) plus the frames where tracking changed (5, 7, 9, 10), not all
    due = len(range(0, len(frames), 3))
    assert sent["process"] == due + len({5, 7, 9, 10} - set(range(0, len(frames), 3)))


class FailingStage(PlaneStage):
    def update(self, frame, camera):
        if frame.index == 4:
            raise ValueError("bad depth")
        return super().update(frame, camera)


def test_process_mode_errors_and_deaths_name_the_frame(marker_room_small):
    from arkit.core.errors import ArkitError

    frames, cams = _frames_and_cameras(marker_room_small)
    c = DepthCadence(FailingStage(), 2, background=True)
    with pytest.raises(ArkitError, match="planes stage failed on frame 4 in its worker process: .*ValueError: bad depth"):
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
