"""`arkit.runner.process`: outputs, and what happens when a run stops early."""

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
