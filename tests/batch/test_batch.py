"""Batch processing: idempotent jobs, crash isolation, summaries, local vs Ray executors."""

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from arkit.batch.executors import WORKER_DIED
from arkit.batch.jobs import DONE_FILE, LOG_FILE, expand_inputs, job_names, plan_jobs, run_job, single_core_jobs
from arkit.batch.run import run_batch
from arkit.batch.summary import SUMMARY_CSV, SUMMARY_JSON
from arkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "samples" / "marker_cube" / "scene.yaml"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Folder with 3 good inputs (two synthetic TUM folders, one arkit recording) and a truncated recording."""
    from arkit.io.sources import open_source
    from arkit.recording import record
    from arkit.session import Session
    from arkit.synthetic import generate_sequence

    base = tmp_path_factory.mktemp("batch_inputs")
    gen = tmp_path_factory.mktemp("gen")
    generate_sequence("marker_room", gen / "seq", num_frames=8, width=160, height=120, seed=0)
    shutil.copytree(gen / "seq", base / "seq0")
    shutil.copytree(gen / "seq", base / "seq1")
    with open_source(str(gen / "seq")) as src, Session.from_scene(SCENE, render=False) as s:
        record(s, src, base / "rec")
    shutil.copytree(base / "rec", base / "zbad")
    lines = (base / "zbad" / "frames.jsonl").read_text()
    (base / "zbad" / "frames.jsonl").write_text(lines[: len(lines) // 2])
    return base


@pytest.fixture(scope="module")
def first_batch(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch_out")
    rows = run_batch([str(inputs)], SCENE, out, workers=2)
    return out, rows


def test_expand_inputs_and_names(inputs, tmp_path):
    found = expand_inputs([str(inputs)])
    assert [p.name for p in found] == ["rec", "seq0", "seq1", "zbad"]
    assert expand_inputs([str(inputs / "seq*")]) == found[1:3]
    assert expand_inputs([str(inputs / "rec"), str(inputs / "rec")]) == [found[0]]
    missing = tmp_path / "nope.mp4"
    assert expand_inputs([str(missing)]) == [missing]
    names = job_names([Path("/a/x/rec"), Path("/b/x/rec"), Path("/c/clip.mp4")])
    assert names[2] == "clip" and names[0] != names[1] and all(n.startswith("rec-") for n in names[:2])


def test_batch_finishes_good_jobs_and_reports_the_bad_one(first_batch):
    out, rows = first_batch
    status = {r["name"]: r for r in rows}
    assert [status[n]["status"] for n in ("rec", "seq0", "seq1")] == ["done"] * 3
    bad = status["zbad"]
    assert bad["status"] == "failed" and "RecordingError" in bad["error"] and "truncated" in bad["error"]
    for n in ("rec", "seq0", "seq1"):
        job = out / n
        assert {p.name for p in job.iterdir()} >= {"video.mp4", "trajectory.txt", "results.jsonl", LOG_FILE, DONE_FILE}
        done = json.loads((job / DONE_FILE).read_text())["result"]
        assert done["frames"] == 8 and len((job / "results.jsonl").read_text().splitlines()) == 8
        assert 0 < done["tracking_coverage"] <= 1
    assert not (out / "zbad" / DONE_FILE).exists()
    assert "truncated" in (out / "zbad" / LOG_FILE).read_text()
    assert json.loads((out / SUMMARY_JSON).read_text()) == rows
    csv_lines = (out / SUMMARY_CSV).read_text().splitlines()
    assert csv_lines[0].startswith("name,status,frames") and len(csv_lines) == 5


def test_rerun_skips_finished_jobs(first_batch, inputs, capsys):
    out, _ = first_batch
    stamps = {n: (out / n / DONE_FILE).stat().st_mtime_ns for n in ("rec", "seq0", "seq1")}
    rc = main(["process", str(inputs / "rec"), str(inputs / "seq0"), str(inputs / "seq1"), "--scene", str(SCENE),
               "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "3 skipped" in text and "[skipped] rec" in text
    assert stamps == {n: (out / n / DONE_FILE).stat().st_mtime_ns for n in stamps}


def test_job_that_raises_leaves_only_its_log_and_is_redone(inputs, tmp_path):
    spec = plan_jobs([str(inputs / "seq0")], SCENE, tmp_path)[0]
    row = run_job(replace(spec, fault="raise:3"))
    assert row["status"] == "failed" and "fault injection" in row["error"]
    job = Path(spec.out_dir)
    assert [p.name for p in job.iterdir()] == [LOG_FILE]
    assert "Traceback" in (job / LOG_FILE).read_text()
    row = run_job(spec)
    assert row["status"] == "done" and (job / DONE_FILE).exists()
    assert run_job(spec)["status"] == "skipped"
    # a finished job run with other options is redone, not skipped
    assert run_job(replace(spec, max_frames=4))["frames"] == 4
    # a folder that is not a job folder is never deleted
    other = replace(spec, name="x", out_dir=str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep")
    row = run_job(other)
    assert row["status"] == "failed" and "not an arkit job folder" in row["error"]
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep"


def test_recorded_tracking_jobs_replay_the_recording(inputs, tmp_path):
    from arkit.recording.replay import FrameIndex

    spec = plan_jobs([str(inputs / "rec"), str(inputs / "seq0")], SCENE, tmp_path, tracking="recorded", video=False)
    row = run_job(spec[0])
    assert row["status"] == "done" and row["frames"] == 8
    index = FrameIndex(inputs / "rec" / "frames.jsonl")
    replayed = [json.loads(line) for line in (tmp_path / "rec" / "results.jsonl").read_text().splitlines()]
    for k, r in enumerate(replayed):
        recorded = index.record(k)
        assert r["camera"]["T_world_camera"] == recorded.camera.T_world_camera.tolist()
        assert [t["id"] for t in r["trackables"]] == [t.id for t in recorded.trackables]
    index.close()
    row = run_job(spec[1])   # a TUM folder is not a recording
    assert row["status"] == "failed" and "RecordingError" in row["error"] and "recording.json is missing" in row["error"]


def test_single_core_jobs_give_the_same_results(inputs, tmp_path, monkeypatch):
    # when parallel jobs fill the cores, each runs its helpers in the loop (single_core)
    assert single_core_jobs(2, cores=2) and single_core_jobs(3, cores=4)
    assert not single_core_jobs(1, cores=2) and not single_core_jobs(4, cores=8) and not single_core_jobs(1, cores=1)
    monkeypatch.setenv("LP_NUM_THREADS", "2")
    rows = {}
    for sc in (False, True):
        spec = plan_jobs([str(inputs / "seq0")], SCENE, tmp_path / f"sc{sc}", single_core=sc)[0]
        rows[sc] = run_job(spec)
        assert rows[sc]["status"] == "done" and rows[sc]["frames"] == 8
    assert os.environ["LP_NUM_THREADS"] == "2"   # restored after the job
    assert "single core" in (tmp_path / "scTrue" / "seq0" / LOG_FILE).read_text()
    assert "single core" not in (tmp_path / "scFalse" / "seq0" / LOG_FILE).read_text()
    for f in ("results.jsonl", "trajectory.txt"):
        assert (tmp_path / "scTrue" / "seq0" / f).read_bytes() == (tmp_path / "scFalse" / "seq0" / f).read_bytes()
    # single_core is how a job runs, not what it makes: a finished job is skipped either way
    spec = plan_jobs([str(inputs / "seq0")], SCENE, tmp_path / "scTrue", single_core=False)[0]
    assert run_job(spec)["status"] == "skipped"


def test_killed_worker_is_reported_and_the_job_redone(inputs, tmp_path):
    ins = [str(inputs / "seq0"), str(inputs / "seq1")]
    # one worker: seq0 finishes, then seq1 kills the worker while running
    rows = run_batch(ins, SCENE, tmp_path, workers=1, video=False, faults={"seq1": "exit:2"})
    by = {r["name"]: r for r in rows}
    assert by["seq0"]["status"] == "done"
    assert by["seq1"]["status"] == "failed" and by["seq1"]["error"] == WORKER_DIED
    assert not (tmp_path / "seq1" / DONE_FILE).exists()
    assert "fault injection" in (tmp_path / "seq1" / LOG_FILE).read_text()
    rows = run_batch(ins, SCENE, tmp_path, workers=2, video=False)
    assert [r["status"] for r in rows] == ["skipped", "done"]
    assert (tmp_path / "seq1" / DONE_FILE).exists()


@pytest.mark.skipif(bool(os.environ.get("ARKIT_SKIP_RAY_TESTS")), reason="ARKIT_SKIP_RAY_TESTS is set")
def test_ray_executor_matches_local(first_batch, inputs, tmp_path):
    ray = pytest.importorskip("ray")   # starting a local Ray instance takes 10-20 s here
    out, _ = first_batch
    try:
        rows = run_batch([str(inputs / n) for n in ("seq0", "seq1", "zbad")], SCENE, tmp_path, workers=2,
                         executor="ray", faults={"seq1": "exit:1"})
    finally:
        ray.shutdown()
    assert [r["status"] for r in rows] == ["done", "failed", "failed"]
    assert rows[1]["error"] == WORKER_DIED and "truncated" in rows[2]["error"]
    for f in ("results.jsonl", "trajectory.txt"):
        assert (tmp_path / "seq0" / f).read_bytes() == (out / "seq0" / f).read_bytes()
