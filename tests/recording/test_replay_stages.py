"""Trackables of later stages (planes, recognition) are recorded and replayed once, never twice."""

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.core.managers import ManagerOutput, TrackableManager
from arkit.core.pose import from_rt
from arkit.core.trackables import MarkerTrackable, PlaneTrackable, TrackableChanges
from arkit.recording import open_recording, record
from arkit.session import Session
from arkit.tracking.base import Tracker, TrackerOutput
from arkit.tracking.recorded import RecordedPoseTracker

K = Intrinsics(32, 24, 30.0, 30.0, 15.5, 11.5)


class MarkerEcho(Tracker):
    """Recorded poses plus one marker trackable (stands in for a marker tracker)."""

    def __init__(self):
        self.inner = RecordedPoseTracker()

    def track(self, frame):
        out = self.inner.track(frame)
        return TrackerOutput(out.camera, (MarkerTrackable("marker:1", "marker", from_rt(t=[0, 0, 1.0]), marker_id=1),))


class FloorStage(TrackableManager):
    """A plane stage that counts its calls."""

    name = "floor"

    def __init__(self):
        self.calls = 0

    def update(self, frame, camera):
        self.calls += 1
        plane = PlaneTrackable("plane:1", "plane", from_rt(t=[0, -1.0 - 0.01 * frame.index, 0]),
                               extent_xz=(1.0, 1.0))
        return ManagerOutput((plane,), TrackableChanges(updated=("plane:1",)))


def _frames(n):
    for i in range(n):
        yield Frame(i, i / 30.0, np.full((24, 32, 3), i, np.uint8), K, T_world_camera_recorded=from_rt(t=[0.1 * i, 0, 0]))


def test_stage_trackables_are_replayed_not_recomputed(tmp_path):
    recording_stage = FloorStage()
    results = []
    with Session(MarkerEcho(), managers=[recording_stage], render=False) as s:
        record(s, _frames(5), tmp_path / "rec", lossless=True, on_result=results.append)
        assert isinstance(s.tracker, MarkerEcho)   # the recorder restored the tracker
    assert recording_stage.calls == 5
    # default: everything recorded comes back from the tracker; the session runs no stage
    source, tracker = open_recording(tmp_path / "rec")
    replayed = list(Session(tracker, render=False).run(source))
    for a, b in zip(results, replayed):
        assert [t.id for t in b.trackables] == ["marker:1", "plane:1"]
        assert b.trackable("plane:1").T_world_local.tobytes() == a.trackable("plane:1").T_world_local.tobytes()
    # rerun stages: only the tracker's trackables are replayed, the stage adds its own once
    source, tracker = open_recording(tmp_path / "rec", trackables="tracker")
    stage = FloorStage()
    rerun = list(Session(tracker, managers=[stage], render=False).run(source))
    assert stage.calls == 5
    assert all([t.id for t in r.trackables] == ["marker:1", "plane:1"] for r in rerun)


def test_replay_session_drops_or_keeps_the_scene_stages(tmp_path):
    from arkit.recording.replay import replay_session

    with Session(MarkerEcho(), managers=[FloorStage()], render=False) as s:
        record(s, _frames(2), tmp_path / "rec", lossless=True)
    scene = tmp_path / "scene.yaml"
    scene.write_text("name: planes\ntracking: {type: none}\nplanes: {enabled: true}\n"
                     "content:\n  - {name: cube, anchor: plane:1, box: 0.1}\n")
    session, source, tracker = replay_session(tmp_path / "rec", scene, render=False)
    assert session.managers == [] and session.tracker is tracker and tracker.trackables == "all"
    with source, session:
        r = list(session.run(source))
    assert [a.id for a in r[-1].anchors] == ["anchor:cube"]     # the recorded plane carries the content
    session, _, tracker = replay_session(tmp_path / "rec", scene, rerun_stages=True, render=False)
    assert len(session.managers) == 1 and tracker.trackables == "tracker"
