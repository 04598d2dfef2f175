"""`arkit synth` smoke test and the built-in sequence cache."""

import pytest

from arkit.cli import main
from arkit.synthetic import cache as cache_mod
from arkit.synthetic import generator as gen_mod
from arkit.synthetic.cache import ensure_builtin_sequence, sequence_cache_dir


def test_cli_synth_writes_a_sequence(tmp_path, capsys):
    out = tmp_path / "seq"
    rc = main(["synth", "marker_board", str(out), "--frames", "2", "--size", "160x120", "--texture-res", "64"])
    assert rc == 0
    assert (out / "DONE").is_file() and len(list((out / "rgb").glob("*.png"))) == 2
    assert "wrote 2 frames" in capsys.readouterr().out
    # existing folder without --overwrite: a clear error, exit code 2
    assert main(["synth", "marker_board", str(out), "--frames", "1", "--size", "160x120"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["synth", "--list"]) == 0
    assert "marker_room" in capsys.readouterr().out


def test_cli_rejects_bad_size():
    with pytest.raises(SystemExit):
        main(["synth", "marker_board", "x", "--size", "big"])


def test_ensure_builtin_sequence_generates_once_and_ignores_partial_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("ARKIT_CACHE", str(tmp_path / "cache"))
    calls = []
    real = gen_mod.generate_sequence

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, texture_px_per_m=64.0, **kwargs)

    monkeypatch.setattr(gen_mod, "generate_sequence", counting)
    expected = tmp_path / "cache" / "sequences" / "marker_board-2-160x120-0"
    assert sequence_cache_dir("marker_board", 2, 160, 120, 0) == expected
    # a half-written folder with the final name (e.g. copied by hand) is regenerated
    expected.mkdir(parents=True)
    (expected / "rgb.txt").write_text("partial")
    p1 = ensure_builtin_sequence("marker_board", num_frames=2, width=160, height=120)
    assert p1 == expected and (p1 / "DONE").is_file() and len(calls) == 1
    stamp = (p1 / "groundtruth.txt").stat().st_mtime_ns
    p2 = ensure_builtin_sequence("marker_board", num_frames=2, width=160, height=120)
    assert p2 == p1 and len(calls) == 1
    assert (p2 / "groundtruth.txt").stat().st_mtime_ns == stamp
    assert cache_mod.is_complete(p2)
    # a sequence generated from another version of the recipe is regenerated
    (p2 / "DONE").write_text('{"num_frames": 2, "generator_version": 1, "scene_sha1": "old"}')
    p3 = ensure_builtin_sequence("marker_board", num_frames=2, width=160, height=120)
    assert p3 == p1 and len(calls) == 2 and cache_mod.is_complete(p3)
    with pytest.raises(Exception, match="no built-in recipe"):
        ensure_builtin_sequence("nope", num_frames=2, width=160, height=120)
