"""`arkit.runner.process`: outputs, and what happens when a run stops early."""

import time

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.runner import process
from arkit.session import Session

K = Intrinsics(64, 48, 50, 50, 32, 24)


def frames(n, fail_at=None):
    for i in range(n):
        if i == fail_at:
            raise RuntimeError("camera unplugged")
        yield Frame(i, i / 30, np.full((48, 64, 3), i * 10 % 255, np.uint8), K)


def test_interrupted_run_keeps_the_frames_done(tmp_path):
    import av

    with pytest.raises(RuntimeError, match="unplugged"):
        process(Session(), frames(10, fail_at=6), video_path=tmp_path / "v.mp4", results_path=tmp_path / "r.jsonl")
    with av.open(str(tmp_path / "v.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left behind"


def test_summary_and_max_frames(tmp_path):
    s = process(Session(), frames(10), max_frames=4, trajectory_path=tmp_path / "t.txt")
    assert s.frames == 4 and s.tracked_frames == 0 and not s.interrupted
    assert set(s.stage_ms) >= {"decode", "track", "scene"}
    assert (tmp_path / "t.txt").exists()


def _noisy_frames(n, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield Frame(i, i / 30, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), K)


@pytest.mark.parametrize("prefetch", [1, 3])
def test_threaded_run_writes_the_same_files_as_the_sequential_one(tmp_path, prefetch):
    out = {}
    for mode, kw in (("seq", dict(prefetch=0, background_encode=False)),
                     ("thr", dict(prefetch=prefetch, background_encode=True))):
        d = tmp_path / mode
        s = process(Session(), _noisy_frames(25), video_path=d / "v.mp4", results_path=d / "r.jsonl",
                    video_options={"preset": "ultrafast", "options": {"threads": "1"}}, **kw)
        assert s.frames == 25 and not s.interrupted
        out[mode] = ((d / "v.mp4").read_bytes(), (d / "r.jsonl").read_bytes())
    assert out["seq"] == out["thr"]
    assert "decode" in s.background_cpu_ms and "encode" in s.background_cpu_ms


def test_prefetch_thread_error_surfaces_in_the_loop(tmp_path):
    from arkit.core.errors import SourceError

    def bad(n, at):
        for f in frames(n):
            if f.index == at:
                raise SourceError("frame 5 of clip.mp4 is corrupt: re-encode the clip")
            yield f

    with pytest.raises(SourceError, match="clip.mp4 is corrupt"):
        process(Session(), bad(10, 5), results_path=tmp_path / "r.jsonl", prefetch=2)
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 5


def test_prefetcher_stops_an_endless_source_when_the_loop_ends():
    from arkit.runner import Prefetcher

    read = []

    def endless():
        i = 0
        while True:
            read.append(i)
            yield Frame(i, i / 30, np.zeros((48, 64, 3), np.uint8), K)
            i += 1

    s = process(Session(), endless(), max_frames=5, prefetch=2)
    assert s.frames == 5 and len(read) <= 5 + 2 + 2   # bounded read-ahead
    p = Prefetcher(endless(), depth=2)
    assert [f.index for _, f in zip(range(3), p)] == [0, 1, 2]
    p.close()
    assert not p._thread.is_alive()


def test_encoder_thread_error_leaves_no_video(tmp_path, monkeypatch):
    from arkit.core.errors import InputFileError
    from arkit.io.video_writer import VideoWriter

    real = VideoWriter._encode

    def failing(self, img):
        if self.frames_written == 3:
            raise RuntimeError("disk full")
        real(self, img)

    monkeypatch.setattr(VideoWriter, "_encode", failing)
    with pytest.raises(InputFileError, match="disk full") as e:
        process(Session(), frames(12), video_path=tmp_path / "v.mp4", results_path=tmp_path / "r.jsonl",
                background_encode="thread")
    assert "background encoding thread" in str(e.value)
    assert not (tmp_path / "v.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left behind"


def test_replay_with_prefetch_matches_sequential_replay(marker_room_small, tmp_path):
    """The replay source (on the prefetch thread) and the replay tracker share the recording's index."""
    from pathlib import Path

    from arkit.io.sources import open_source
    from arkit.recording import open_recording, record

    scene = Path(__file__).resolve().parents[1] / "samples" / "marker_cube" / "scene.yaml"
    with open_source(str(marker_room_small)) as src, Session.from_scene(scene, render=False) as s:
        record(s, src, tmp_path / "rec")
    out = []
    for prefetch in (0, 4):
        source, tracker = open_recording(tmp_path / "rec")
        with source, Session(tracker, render=False) as s:
            process(s, source, results_path=tmp_path / f"r{prefetch}.jsonl", prefetch=prefetch)
        tracker.close()
        out.append((tmp_path / f"r{prefetch}.jsonl").read_bytes())
    assert out[0] == out[1] and len(out[0].splitlines()) == 24


class _BusyDepthStage:
    """A depth stage that burns CPU on the frames that carry depth."""

    name = "planes"

    def __init__(self):
        self.depth_frames = 0

    def update(self, frame, camera):
        from arkit.core.managers import ManagerOutput

        if frame.depth_m is not None:
            self.depth_frames += 1
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.002:
                pass
        return ManagerOutput()

    def reset(self):
        pass

    def close(self):
        pass


def test_summary_reports_the_background_planes_worker_cpu():
    from arkit.session import DepthCadence

    stage = _BusyDepthStage()
    cadence = DepthCadence(stage, 2, background="thread")
    depth_frames = (Frame(i, i / 30, np.zeros((48, 64, 3), np.uint8), K, depth_m=np.ones((48, 64), np.float32))
                    for i in range(10))
    with Session(managers=[cadence], render=False) as s:
        summary = process(s, depth_frames)
    # depth goes to frames 0, 2, 4, 6, 8; results come back 2 frames late, so 0-6 were consumed
    # (they ran) while frame 8's job is still queued at close and may be cancelled unrun
    assert stage.depth_frames in (4, 5)
    assert cadence.worker_cpu_s >= 0.002 * stage.depth_frames
    assert summary.background_cpu_ms["planes"] == pytest.approx(1e3 * cadence.worker_cpu_s / 10, rel=0.5)
