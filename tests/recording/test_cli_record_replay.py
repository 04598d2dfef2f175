"""Smoke tests of `arkit record` and `arkit replay`."""

import json
from pathlib import Path

from arkit.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_record_then_replay_cli(marker_room_small, tmp_path, capsys):
    scene = str(ROOT / "samples" / "marker_cube" / "scene.yaml")
    rc = main(["record", scene, "--source", str(marker_room_small), "--out", str(tmp_path / "rec"),
               "--max-frames", "4", "--no-progress"])
    assert rc == 0 and "recorded 4 frames" in capsys.readouterr().out
    header = json.loads((tmp_path / "rec" / "recording.json").read_text())
    assert header["frames"] == 4 and header["scene"] == str(Path(scene).resolve()) and header["depth"]
    rc = main(["replay", str(tmp_path / "rec"), "--scene", str(ROOT / "samples" / "board_model" / "scene.yaml"),
               "--out", str(tmp_path / "replay.mp4"), "--results", str(tmp_path / "r.jsonl"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "replayed 4 frames" in out and (tmp_path / "replay.mp4").stat().st_size > 0
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 4
    # recording again into the same folder is refused with a clear message
    rc = main(["record", scene, "--source", str(marker_room_small), "--out", str(tmp_path / "rec"), "--no-progress"])
    assert rc == 2 and "already exists" in capsys.readouterr().err
