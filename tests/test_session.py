"""The whole pipeline on a synthetic sequence: tracking, scene graph, rendering, results."""

import numpy as np
import pytest

import arkit
from arkit.core.pose import invert, rotation_angle_deg
from arkit.core.trackables import TrackingState
from arkit.io.sources import open_source
from arkit.scene import overlays
from arkit.scene.graph import Scene
from arkit.session import Session
from arkit.tracking.marker_tracker import MarkerTracker


def _gt_marker(seq, marker_id):
    import json

    scene = json.loads((seq / "scene.json").read_text())
    for m in scene["markers"]:
        if m["id"] == marker_id:
            return np.asarray(m["T_world_marker"], dtype=np.float64)
    raise KeyError(marker_id)


def test_overlay_drawn_on_marker_and_poses_consistent(marker_room_small):
    scene = Scene()
    scene.add(overlays.box([0.06, 0.06, 0.06], [1.0, 0.0, 1.0, 1.0], unlit=True), on="marker:0",
              T_anchor_content=arkit.Pose.from_rt(t=[0, 0.03, 0]).matrix)
    session = Session(MarkerTracker("DICT_6X6_250", marker_size_m=0.15, marker_sizes_m={6: 0.12}), scene)
    T_gt_world_marker0 = _gt_marker(marker_room_small, 0)
    drawn = 0
    errs_t, errs_r = [], []
    with open_source(str(marker_room_small)) as src, session:
        for frame in src:
            r = session.step(frame)
            assert r.image is not None and r.image.shape == frame.image_rgb.shape
            assert not r.image.flags.writeable
            if r.camera.tracking_state != TrackingState.TRACKING or r.trackable("marker:0") is None:
                continue
            # tracker world = marker 0's frame here (first marker seen); compare camera pose
            # relative to marker 0 with the ground truth.
            T_gt = invert(T_gt_world_marker0) @ frame.T_world_camera_recorded
            T_est = invert(r.trackable("marker:0").T_world_local) @ r.camera.T_world_camera
            errs_t.append(np.linalg.norm(T_est[:3, 3] - T_gt[:3, 3]) / np.linalg.norm(T_gt[:3, 3]))
            errs_r.append(rotation_angle_deg(T_est[:3, :3], T_gt[:3, :3]))
            # the magenta cube is visible where it should be: project its centre
            c_world = r.trackable("marker:0").T_world_local @ np.array([0, 0.03, 0, 1.0])
            c_cam = invert(r.camera.T_world_camera) @ c_world
            u, v = frame.intrinsics.project(c_cam[:3])[0]
            if 5 < u < frame.width - 5 and 5 < v < frame.height - 5:
                px = r.image[int(round(v)), int(round(u))].astype(int)
                assert px[0] > 200 and px[1] < 60 and px[2] > 200, px
                drawn += 1
    assert drawn >= 5
    # 320x240 frames, 15 cm markers at 0.7-1.5 m: relative position error ~1%, rotation < 1 deg
    assert len(errs_t) >= 10
    assert np.median(errs_t) < 0.01 and np.max(errs_t) < 0.02, errs_t
    assert np.median(errs_r) < 0.6, errs_r


def test_session_without_tracker_keeps_frames():
    K = arkit.Intrinsics(64, 48, 50, 50, 32, 24)
    frame = arkit.Frame(0, 0.0, np.full((48, 64, 3), 7, np.uint8), K)
    with Session() as s:
        r = s.step(frame)
    assert r.camera.tracking_state == TrackingState.NOT_INITIALIZED
    assert np.array_equal(r.image, frame.image_rgb)


def test_from_scene_runs_sample(marker_room_small, tmp_path):
    from pathlib import Path

    from arkit.runner import process

    root = Path(__file__).resolve().parents[1]
    session = Session.from_scene(root / "samples" / "marker_cube" / "scene.yaml")
    with open_source(str(marker_room_small)) as src, session:
        summary = process(session, src, video_path=tmp_path / "o.mp4", results_path=tmp_path / "r.jsonl",
                          trajectory_path=tmp_path / "t.txt")
    assert summary.frames == 24 and summary.tracked_frames > 12
    assert (tmp_path / "o.mp4").stat().st_size > 1000
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(lines) == 24
    traj = [l for l in (tmp_path / "t.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert len(traj) == summary.tracked_frames


class _CountingStage:
    """A stage that records which frames brought depth and reports one trackable id per call."""

    name = "planes"

    def __init__(self, fail_at=None):
        self.seen = []
        self.fail_at = fail_at

    def update(self, frame, camera):
        from arkit.core.managers import ManagerOutput
        from arkit.core.trackables import TrackableChanges

        if frame.index == self.fail_at:
            raise ValueError("bad depth")
        self.seen.append((frame.index, frame.depth_m is not None))
        return ManagerOutput((), TrackableChanges(added=(f"plane:{frame.index}",)))

    def reset(self):
        self.seen.clear()

    def close(self):
        pass


def _depth_frames(n):
    K = arkit.Intrinsics(32, 24, 30, 30, 16, 12)
    return [arkit.Frame(i, i / 30, np.zeros((24, 32, 3), np.uint8), K, depth_m=np.ones((24, 32), np.float32))
            for i in range(n)]


def test_depth_cadence_feeds_depth_on_every_nth_frame():
    from arkit.session import DepthCadence

    stage = _CountingStage()
    with Session(managers=[DepthCadence(stage, 3)], render=False) as s:
        added = [s.step(f).changes.added for f in _depth_frames(8)]
    assert stage.seen == [(i, i % 3 == 0) for i in range(8)]   # every frame still reaches the stage
    assert added == [(f"plane:{i}",) for i in range(8)]


def test_background_cadence_is_the_synchronous_one_a_fixed_number_of_frames_late():
    from arkit.core.errors import ArkitError
    from arkit.session import DepthCadence

    sync, bg = _CountingStage(), _CountingStage()
    frames = _depth_frames(10)
    with Session(managers=[DepthCadence(sync, 2)], render=False) as a, \
            Session(managers=[DepthCadence(bg, 2, background="thread")], render=False) as b:
        ra = [a.step(f).changes.added for f in frames]
        rb = [b.step(f).changes.added for f in frames]
    assert rb == [()] * 2 + ra[:-2]
    assert bg.seen == sync.seen
    with Session(managers=[DepthCadence(_CountingStage(fail_at=3), 2, background="thread")], render=False) as c:
        with pytest.raises(ArkitError, match="planes stage failed on frame 3 in its worker thread: ValueError: bad depth"):
            for f in frames:
                c.step(f)


def test_scene_planes_every(tmp_path):
    from arkit.core.errors import SceneFileError
    from arkit.session import DepthCadence

    def scene(planes):
        p = tmp_path / "s.yaml"
        p.write_text(f"name: t\ntracking: {{type: none}}\nplanes: {planes}\ncontent: []\n")
        return p

    with Session.from_scene(scene("{enabled: true, every: 4, background: true}")) as s:
        (m,) = s.managers
        assert isinstance(m, DepthCadence) and m.every == 4 and m.mode == "process" and m.name == "planes"
    with Session.from_scene(scene("{enabled: true, every: 2, background: thread}")) as s:
        assert s.managers[0].mode == "thread"
    with pytest.raises(SceneFileError, match="planes.background"):
        Session.from_scene(scene("{enabled: true, background: fork}"))
    with Session.from_scene(scene("{enabled: true}")) as s:
        assert not isinstance(s.managers[0], DepthCadence)
    with pytest.raises(SceneFileError, match="planes.every"):
        Session.from_scene(scene("{enabled: true, every: 0}"))


def test_threaded_run_gives_the_sequential_results(marker_room_small, tmp_path):
    """Prefetch, the encoding thread, single-threaded OpenCV and background planes do not change results."""
    import yaml
    from pathlib import Path

    from arkit.runner import process

    root = Path(__file__).resolve().parents[1]
    data = yaml.safe_load((root / "samples" / "marker_cube" / "scene.yaml").read_text())
    data["planes"] = {"enabled": True, "every": 2, "background": True}
    scene = tmp_path / "scene.yaml"
    scene.write_text(yaml.safe_dump(data))
    out = []
    for kw in (dict(prefetch=0, background_encode=False), dict(prefetch=3)):
        with open_source(str(marker_room_small)) as src, Session.from_scene(scene) as s:
            process(s, src, results_path=tmp_path / "r.jsonl", **kw)
        out.append((tmp_path / "r.jsonl").read_bytes())
    assert out[0] == out[1]
    assert b'"plane:' in out[0]


def test_pipelined_run_gives_the_step_by_step_results(marker_room_small, tmp_path):
    """perceive() on a worker thread ahead of compose(): same results, same order; errors surface."""
    from pathlib import Path

    from arkit.core.errors import ArkitError
    from arkit.runner import process

    scene = Path(__file__).resolve().parents[1] / "samples" / "marker_cube" / "scene.yaml"
    out = []
    for pipeline in (0, 2):
        with open_source(str(marker_room_small)) as src, Session.from_scene(scene) as s:
            summary = process(s, src, results_path=tmp_path / f"r{pipeline}.jsonl", pipeline=pipeline)
            images = [r.image for r in s.run(open_source(str(marker_room_small)), pipeline=pipeline)]
        out.append(((tmp_path / f"r{pipeline}.jsonl").read_bytes(), images))
        assert ("perceive" in summary.background_cpu_ms) == bool(pipeline)
    assert out[0][0] == out[1][0] and b'"marker:3"' in out[0][0]
    assert len(out[0][1]) == 24 and all(np.array_equal(a, b) for a, b in zip(*(o[1] for o in out)))

    with Session(managers=[_CountingStage(fail_at=5)], render=False) as s:
        got = []
        with pytest.raises(ValueError, match="bad depth"):
            for r in s.run(_depth_frames(10), pipeline=2):
                got.append(r.index)
        assert got == [0, 1, 2, 3, 4]
