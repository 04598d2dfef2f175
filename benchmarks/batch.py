"""Recording, replay and batch figures.

1. Throughput of a 640x480 30 FPS synthetic sequence with marker tracking and rendering
   (``arkit run``'s loop, H.264 output) and of its replay from a recording (recorded tracking,
   rendering), as multiples of real time.
2. A batch of 8 recordings with 1 and 2 local workers: wall time and scaling ratio.
3. Peak memory (RSS) of record + replay of a short and a long stream; the long stream cycles a
   few in-memory frames instead of reading minutes of video from disk.
4. Ray executor vs local executor: identical job outputs (when ``ray`` is installed).

Run:  .venv/bin/python benchmarks/batch.py [--quick]
Timings are noisy on a shared machine; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "samples" / "marker_cube" / "scene.yaml"


def throughput(work: Path, frames: int) -> dict:
    from arkit.io.sources import open_source
    from arkit.recording import open_recording, record
    from arkit.runner import process
    from arkit.session import Session

    uri = f"builtin:marker_room:{frames}"
    with open_source(uri) as src:   # generated once into the cache
        fps_src = src.fps or 30.0
    with open_source(uri) as src, Session.from_scene(SCENE) as s:
        run = process(s, src, video_path=work / "run.mp4", results_path=work / "run.jsonl")
    with open_source(uri) as src, Session.from_scene(SCENE, render=False) as s:
        t0 = time.perf_counter()
        rec = record(s, src, work / "rec640")
        rec_s = time.perf_counter() - t0
    source, tracker = open_recording(work / "rec640")
    session = Session.from_scene(SCENE)
    session.tracker = tracker
    with source, session:
        rep = process(session, source, video_path=work / "replay.mp4")
    return {"frames": run.frames, "source_fps": fps_src,
            "run_fps": run.fps, "run_x_realtime": run.fps / fps_src, "run_tracked": run.tracking_coverage,
            "record_fps": rec.frames / rec_s, "replay_fps": rep.fps, "replay_x_realtime": rep.fps / fps_src,
            "run_stage_ms": {k: round(v, 2) for k, v in run.stage_ms.items()},
            "replay_stage_ms": {k: round(v, 2) for k, v in rep.stage_ms.items()}}


def make_batch_inputs(work: Path, n: int, frames: int) -> list:
    from arkit.io.sources import open_source
    from arkit.recording import record
    from arkit.session import Session
    from arkit.synthetic import generate_sequence

    seq = generate_sequence("marker_room", work / "seq320", num_frames=frames, width=320, height=240, seed=0)
    with open_source(str(seq)) as src, Session.from_scene(SCENE, render=False) as s:
        record(s, src, work / "inputs" / "rec00")
    for i in range(1, n):
        shutil.copytree(work / "inputs" / "rec00", work / "inputs" / f"rec{i:02d}")
    return sorted(str(p) for p in (work / "inputs").iterdir())


def batch_scaling(work: Path, inputs: list) -> dict:
    from arkit.batch.run import run_batch

    out = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        rows = run_batch(inputs, SCENE, work / f"batch_w{workers}", workers=workers)
        out[workers] = time.perf_counter() - t0
        assert all(r["status"] == "done" for r in rows), rows
    frames = sum(r["frames"] for r in rows)
    return {"jobs": len(inputs), "frames": frames, "wall_1_worker_s": out[1], "wall_2_workers_s": out[2],
            "scaling_2_vs_1": out[1] / out[2]}


def ray_equality(work: Path, inputs: list) -> dict:
    try:
        import ray
    except ImportError:
        return {"ray": "not installed (pip install ray)"}
    from arkit.batch.run import run_batch

    t0 = time.perf_counter()
    try:
        rows = run_batch(inputs[:3], SCENE, work / "batch_ray", workers=2, executor="ray")
    finally:
        ray.shutdown()
    wall = time.perf_counter() - t0
    same = all((work / "batch_ray" / r["name"] / f).read_bytes() == (work / "batch_w2" / r["name"] / f).read_bytes()
               for r in rows for f in ("results.jsonl", "trajectory.txt"))
    return {"ray_jobs": len(rows), "ray_wall_s_incl_startup": wall, "ray_outputs_equal_local": same}


# -- memory: one subprocess per stream length ------------------------------------------------------
def stream_child(frames: int, out_dir: str) -> None:
    """Record then replay a ``frames``-long stream cycling 30 in-memory frames; print RSS figures."""
    import psutil

    from arkit.core.frame import Frame
    from arkit.io.sources import open_source
    from arkit.recording import open_recording, record
    from arkit.runner import process
    from arkit.session import Session

    with open_source("builtin:marker_room:30") as src:
        base = list(src)
    proc = psutil.Process()
    warm = {}
    peak = [0]

    def cycling():
        for i in range(frames):
            f = base[i % len(base)]
            yield Frame(i, i / 30.0, f.image_rgb, f.intrinsics, depth_m=f.depth_m)

    def sample(stage):
        def cb(r):
            rss = proc.memory_info().rss
            peak[0] = max(peak[0], rss)
            if r.index == 30:
                warm[stage] = rss
        return cb

    out = Path(out_dir)
    with Session.from_scene(SCENE, render=False) as s:
        record(s, cycling(), out / "rec", on_result=sample("record"))
    rss_after_record = proc.memory_info().rss
    source, tracker = open_recording(out / "rec")
    session = Session.from_scene(SCENE)
    session.tracker = tracker
    with source, session:
        summary = process(session, source, video_path=out / "replay.mp4", results_path=out / "replay.jsonl",
                          trajectory_path=out / "traj.txt", on_result=sample("replay"))
    print(json.dumps({"frames": frames, "replayed": summary.frames, "stream_peak_rss_mb": peak[0] / 2**20,
                      "record_rss_at_frame30_mb": warm["record"] / 2**20, "rss_after_record_mb": rss_after_record / 2**20,
                      "replay_rss_at_frame30_mb": warm["replay"] / 2**20, "rss_end_mb": proc.memory_info().rss / 2**20,
                      "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def memory(work: Path, short: int, long: int) -> dict:
    from arkit.synthetic import ensure_builtin_sequence

    ensure_builtin_sequence("marker_room", num_frames=30)   # the children only read it
    out = {}
    for n in (short, long):
        d = work / f"mem{n}"
        d.mkdir()
        res = subprocess.run([sys.executable, __file__, "--stream-child", str(n), str(d)], capture_output=True,
                             text=True, check=True)
        out[n] = json.loads(res.stdout.strip().splitlines()[-1])
        shutil.rmtree(d)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller figures (about a minute)")
    ap.add_argument("--stream-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stream_child:
        stream_child(int(args.stream_child[0]), args.stream_child[1])
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    frames = 60 if args.quick else 150
    short, long = (100, 600) if args.quick else (150, 1800)
    work = Path(tempfile.mkdtemp(prefix="arkit_bench_batch_"))
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        t = throughput(work, frames)
        print(f"\n[1] 640x480 marker_room, {t['frames']} frames at {t['source_fps']:.0f} FPS "
              f"(tracked {100 * t['run_tracked']:.0f}%)")
        print(f"    run (marker tracking + rendering + H.264): {t['run_fps']:.1f} FPS = "
              f"{t['run_x_realtime']:.2f}x real time; stages ms {t['run_stage_ms']}")
        print(f"    record (tracking, H.264 + depth PNG + JSON lines): {t['record_fps']:.1f} FPS")
        print(f"    replay (recorded tracking + rendering + H.264): {t['replay_fps']:.1f} FPS = "
              f"{t['replay_x_realtime']:.2f}x real time; stages ms {t['replay_stage_ms']}")
        inputs = make_batch_inputs(work, 8, 30 if args.quick else 60)
        b = batch_scaling(work, inputs)
        print(f"\n[2] batch of {b['jobs']} recordings (320x240, {b['frames']} frames in all): "
              f"1 worker {b['wall_1_worker_s']:.1f} s, 2 workers {b['wall_2_workers_s']:.1f} s, "
              f"scaling {b['scaling_2_vs_1']:.2f}x")
        m = memory(work, short, long)
        print("\n[3] record then replay (tracking, rendering, H.264, JSON lines) of a 640x480 stream cycling "
              "30 in-memory frames; RSS sampled every frame:")
        for n, r in m.items():
            print(f"    {n:5d} frames: record RSS at frame 30 {r['record_rss_at_frame30_mb']:.0f} MB, after recording "
                  f"{r['rss_after_record_mb']:.0f} MB; replay at frame 30 {r['replay_rss_at_frame30_mb']:.0f} MB, "
                  f"end {r['rss_end_mb']:.0f} MB; streaming peak {r['stream_peak_rss_mb']:.0f} MB "
                  f"(process peak {r['process_peak_rss_mb']:.0f} MB)")
        ms, ml = m[short], m[long]
        print(f"    long/short streaming peak RSS ratio: {ml['stream_peak_rss_mb'] / ms['stream_peak_rss_mb']:.3f} "
              f"for {long / short:.0f}x the frames")
        r = ray_equality(work, inputs)
        print(f"\n[4] Ray vs local: {r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
