"""Record -> replay: recorded tracking comes back bit for bit and drives any scene deterministically."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from arkit.core.pose import from_rt
from arkit.io.sources import open_source
from arkit.recording import RecordingError, open_recording, read_info, record
from arkit.recording.format import FRAMES_FILE, HEADER_FILE, VIDEO_FILE, encode_typed
from arkit.scene import overlays
from arkit.scene.graph import Scene
from arkit.session import Session

ROOT = Path(__file__).resolve().parents[2]
MARKER_SCENE = ROOT / "samples" / "marker_cube" / "scene.yaml"
N = 10


def _tracking_session():
    return Session.from_scene(MARKER_SCENE, render=False)


@pytest.fixture(scope="module")
def recorded(marker_room_small, tmp_path_factory):
    """(video recording, lossless recording, results of the recording run)."""
    base = tmp_path_factory.mktemp("rec")
    out = {}
    for lossless in (False, True):
        results = []
        with open_source(str(marker_room_small)) as src, _tracking_session() as s:
            summary = record(s, src, base / f"rec{int(lossless)}", lossless=lossless, max_frames=N,
                             on_result=results.append, scene=str(MARKER_SCENE))
        assert summary.frames == N and not summary.interrupted
        out[lossless] = (summary.path, results)
    return out


def _key(trackables):
    return json.dumps([encode_typed(t) for t in trackables])


def _other_scene():
    scene = Scene("other")
    scene.add(overlays.box([0.05, 0.05, 0.05], [0.1, 0.9, 0.1, 1.0]), on="marker:0",
              T_anchor_content=from_rt(t=[0, 0.025, 0]))
    return scene


def test_replay_with_another_scene_gives_recorded_poses_bit_for_bit(recorded):
    path, results = recorded[False]
    source, tracker = open_recording(path)
    assert source.num_frames == N and read_info(path).image == "video"
    replayed = list(Session(tracker, _other_scene(), render=True).run(source))
    assert len(replayed) == N
    assert sum(r.camera.is_tracking for r in results) >= N // 2
    for a, b in zip(results, replayed):
        assert (a.index, a.timestamp_s) == (b.index, b.timestamp_s)
        assert a.camera.T_world_camera.tobytes() == b.camera.T_world_camera.tobytes()
        assert (a.camera.tracking_state, a.camera.reason) == (b.camera.tracking_state, b.camera.reason)
        assert [type(t) for t in a.trackables] == [type(t) for t in b.trackables]
        assert _key(a.trackables) == _key(b.trackables)
        assert a.changes == b.changes
    # the file itself holds the exact numbers too
    first = json.loads((path / FRAMES_FILE).read_text().splitlines()[0])
    assert np.array(first["camera"]["T_world_camera"]).tobytes() == results[0].camera.T_world_camera.tobytes()
    assert first["index"] == results[0].index and first["timestamp_s"] == results[0].timestamp_s


def test_replay_is_deterministic(recorded):
    path, _ = recorded[False]
    runs = []
    for _ in range(2):
        source, tracker = open_recording(path)
        with Session(tracker, _other_scene()) as s:
            runs.append([(r.image.tobytes(), r.camera.T_world_camera.tobytes(), _key(r.trackables))
                         for r in s.run(source)])
    assert runs[0] == runs[1]


def test_recorded_poses_put_a_world_cube_where_a_fresh_run_does(recorded, marker_room_small):
    path, results = recorded[True]
    first = next(r for r in results if r.camera.is_tracking)
    # a world-anchored cube 0.4 m in front of the first tracked camera
    T_world_cube = first.camera.T_world_camera @ from_rt(t=[0.0, 0.0, 0.4])
    scene = Scene("cube")
    scene.add(overlays.box([0.1, 0.1, 0.1], [1.0, 0.0, 1.0, 1.0], unlit=True), on=T_world_cube)

    def masks(session, source):
        out = []
        with session:
            for r in session.run(source):
                img = r.image.astype(int)
                out.append((img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] > 200))
        return out

    sess = Session.from_scene(MARKER_SCENE)
    sess.scene = scene
    with open_source(str(marker_room_small), max_frames=N) as src:
        fresh = masks(sess, src)
    source, tracker = open_recording(path)
    replay = masks(Session(tracker, scene), source)
    compared = 0
    for a, b, r in zip(fresh, replay, results):
        if not r.camera.is_tracking or a.sum() < 50:
            continue
        iou = (a & b).sum() / max((a | b).sum(), 1)
        ca = np.argwhere(a).mean(axis=0)
        cb = np.argwhere(b).mean(axis=0)
        assert iou > 0.97 and np.abs(ca - cb).max() < 0.5, (r.index, iou, ca, cb)
        compared += 1
    assert compared >= 3


def test_lossless_frames_and_depth_round_trip(recorded, marker_room_small):
    path, _ = recorded[True]
    rec = open_source(str(path))          # the registered reader recognises the folder
    with open_source(str(marker_room_small), max_frames=N) as src, rec:
        assert rec.num_frames == N and rec.intrinsics == src.intrinsics
        for a, b in zip(src, rec):
            assert (a.index, a.timestamp_s) == (b.index, b.timestamp_s)
            assert np.array_equal(a.image_rgb, b.image_rgb)
            assert np.abs(a.depth_m - b.depth_m).max() <= 0.0005 + 1e-6
            assert np.array_equal(a.depth_m > 0, b.depth_m > 0)
            assert a.T_world_camera_recorded.tobytes() == b.T_world_camera_recorded.tobytes()


def test_speed_resamples_frames(recorded):
    path, results = recorded[False]
    fast, _ = open_recording(path, speed=2.0)
    slow, _ = open_recording(path, speed=0.5)
    assert [f.index for f in fast] == [r.index for r in results][::2]
    slow_idx = [f.index for f in slow]
    assert len(slow_idx) == 2 * N - 1 and slow_idx[::2] == [r.index for r in results]


def test_truncated_and_unfinished_recordings_raise_clear_errors(recorded, tmp_path):
    path, _ = recorded[False]
    bad = tmp_path / "cut"
    shutil.copytree(path, bad)
    text = (bad / FRAMES_FILE).read_text()
    (bad / FRAMES_FILE).write_text(text[: len(text) - 40])
    with pytest.raises(RecordingError, match=r"frames.jsonl:10.*truncated"):
        open_recording(bad)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(path, unfinished)
    (unfinished / HEADER_FILE).unlink()
    with pytest.raises(RecordingError, match="recording.json is missing"):
        open_recording(unfinished)
    short = tmp_path / "short_video"
    shutil.copytree(path, short)
    import av

    with av.open(str(path / VIDEO_FILE)) as c:   # re-mux only the first 4 frames
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][:4]
    from arkit.io.video_writer import VideoWriter

    with VideoWriter(short / VIDEO_FILE, 30) as w:
        for f in frames:
            w.write(f)
    source, _ = open_recording(short)
    with pytest.raises(RecordingError, match="holds only 4 frames"):
        list(source)


def test_interrupted_recording_keeps_the_frames_done(marker_room_small, tmp_path):
    def failing(src):
        for f in src:
            if f.index == 3:
                raise RuntimeError("camera unplugged")
            yield f

    with open_source(str(marker_room_small)) as src, pytest.raises(RuntimeError, match="unplugged"):
        record(None, failing(src), tmp_path / "r", lossless=True)
    info = read_info(tmp_path / "r")
    assert info.frames == 3 and info.interrupted
    assert not any(p.name.startswith(".r.partial") for p in tmp_path.iterdir())
    with pytest.raises(RecordingError, match="already exists"):
        record(None, [], tmp_path / "r")
