"""Smoke tests of `arkit run` and of the CLI's error handling."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arkit.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_run_writes_video_results_trajectory(marker_room_small, tmp_path, capsys):
    rc = main(["run", str(ROOT / "samples" / "marker_cube" / "scene.yaml"), "--source", str(marker_room_small),
               "--out", str(tmp_path / "out.mp4"), "--results", str(tmp_path / "r.jsonl"),
               "--trajectory", str(tmp_path / "t.txt"), "--no-progress", "--max-frames", "10"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "frames per second" in out and "wrote video" in out
    import av

    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == 10
    rec = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[-1])
    assert {"index", "timestamp_s", "camera", "trackables", "anchors"} <= set(rec)


def test_bad_scene_file_gives_clear_error(tmp_path, capsys):
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\ncontnet: []\n")
    rc = main(["run", str(bad), "--source", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "s.yaml:2" in err and "contnet" in err and "content" in err


def test_missing_source_gives_clear_error(tmp_path, capsys):
    rc = main(["run", str(ROOT / "samples" / "marker_cube" / "scene.yaml"), "--source", str(tmp_path / "none.mp4")])
    assert rc == 2
    assert "none.mp4" in capsys.readouterr().err


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "arkit.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "run" in r.stdout


def test_show_without_display_is_ignored_with_warning(marker_room_small, tmp_path, monkeypatch, caplog):
    import logging

    import cv2

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(cv2, "imshow", lambda *a: (_ for _ in ()).throw(AssertionError("imshow called")))
    with caplog.at_level(logging.WARNING, logger="arkit"):
        rc = main(["run", str(ROOT / "samples" / "marker_cube" / "scene.yaml"), "--source", str(marker_room_small),
                   "--show", "--no-progress", "--max-frames", "3"])
    assert rc == 0
    assert any("--show ignored" in r.getMessage() for r in caplog.records)


def test_run_preset_and_crf_reach_the_encoder(marker_room_small, tmp_path, capsys):
    scene = str(ROOT / "samples" / "marker_cube" / "scene.yaml")
    sizes = {}
    for crf in (10, 45):
        out = tmp_path / f"crf{crf}.mp4"
        rc = main(["run", scene, "--source", str(marker_room_small), "--out", str(out), "--no-progress",
                   "--max-frames", "6", "--preset", "ultrafast", "--crf", str(crf)])
        assert rc == 0
        sizes[crf] = out.stat().st_size
    assert sizes[45] < sizes[10] / 2   # a much coarser quantiser must give a much smaller file
    capsys.readouterr()
    rc = main(["run", scene, "--source", str(marker_room_small), "--out", str(tmp_path / "x.mp4"),
               "--no-progress", "--crf", "99"])
    assert rc != 0
    assert "--crf 99" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
