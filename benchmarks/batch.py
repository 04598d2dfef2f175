"""Recording, replay and batch figures.

1. Throughput of a 640x480 30 FPS synthetic sequence with depth: marker tracking + depth planes
   + GL rendering, with and without H.264 output (``arkit run``'s loop), sequential (the old loop,
   planes on every frame) and threaded (frames decoded ahead on a thread, H.264 encoded on a
   thread, planes on every ``--planes-every``-th frame), from the TUM-layout PNG folder and from
   an arkit recording (H.264 + depth PNG); and the replay of that recording. Multiples of real time.
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


def planes_scene(work: Path, every: int, background: bool) -> Path:
    """The marker_cube sample with depth planes on every ``every``-th frame, maybe on a worker
    thread (``planes: {every: N, background: true}``)."""
    import yaml

    data = yaml.safe_load(SCENE.read_text())
    data["name"] = f"marker_cube_planes_every{every}"
    data["planes"] = {"enabled": True, "every": every, "background": background}
    path = work / f"scene_planes_every{every}_{int(background)}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timed_run(scene: Path, uri: str, out: Path, *, encode: bool, preset: str, threaded: bool, warmup: int = 5) -> dict:
    """One ``arkit run`` loop (:func:`arkit.runner.process`) over ``uri`` with ``scene``.

    A throw-away session first runs ``warmup`` frames (numba compilation of the plane kernels and
    the GL context happen once per process, not per frame). Returns FPS, CPU ms per frame of the
    whole process (all threads: decode, x264, llvmpipe) and of the main loop thread, and stage ms.
    """
    from arkit.io.sources import open_source
    from arkit.runner import process
    from arkit.session import Session

    with open_source(uri) as src, Session.from_scene(scene) as s:
        for i, f in zip(range(warmup), src):
            s.step(f)
    with open_source(uri) as src, Session.from_scene(scene) as s:
        fps_src = src.fps or 30.0
        c0, m0 = time.process_time(), time.thread_time()
        run = process(s, src, video_path=out if encode else None, results_path=out.with_suffix(".jsonl"),
                      prefetch=4 if threaded else 0, background_encode=threaded,
                      video_options={"preset": preset} if threaded else {"preset": preset, "options": {}})
        cpu, main_cpu = time.process_time() - c0, time.thread_time() - m0
    n = max(run.frames, 1)
    cpu_ms, main_ms = 1e3 * cpu / n, 1e3 * main_cpu / n
    return {"frames": run.frames, "fps": run.fps, "x_realtime": run.fps / fps_src, "tracked": run.tracking_coverage,
            "cpu_ms": cpu_ms, "main_cpu_ms": main_ms,
            # what 2 idle cores allow: the main loop thread is serial, the rest can overlap with it
            "bound_2core_fps": min(1e3 / main_ms, 2e3 / cpu_ms),
            "stage_ms": {k: round(v, 1) for k, v in run.stage_ms.items()},
            "background_cpu_ms": {k: round(v, 1) for k, v in run.background_cpu_ms.items()}}


def throughput(work: Path, frames: int, every: int, background: bool, preset: str) -> dict:
    """Marker tracking + depth planes + GL rendering (+ H.264) over a 640x480 30 FPS recording.

    Two inputs of the same synthetic sequence (with depth): the TUM-layout folder (PNG colour and
    16-bit PNG depth) and an arkit recording of it (H.264 video and 16-bit PNG depth; the
    recording's poses are not used: the markers are tracked again)."""
    from arkit.io.sources import open_source
    from arkit.recording import record
    from arkit.session import Session

    uri = f"builtin:marker_room:{frames}"
    with open_source(uri) as src, Session.from_scene(SCENE, render=False) as s:   # generated once into the cache
        record(s, src, work / "rec640")
    rows = []
    rec = str(work / "rec640")
    # (input, uri, planes every, planes on a worker thread, H.264, prefetch + encoding thread)
    cases = [("TUM folder (PNG)", uri, 1, False, "veryfast", False),     # the loop before this change
             ("TUM folder (PNG)", uri, every, background, preset, True),
             ("TUM folder (PNG)", uri, every, background, "ultrafast", True),
             ("TUM folder (PNG)", uri, every, background, None, True),
             ("recording (H.264)", rec, every, background, preset, True),
             ("recording (H.264)", rec, every, background, None, True)]
    for i, (label, u, ev, bg, enc, threaded) in enumerate(cases):
        r = timed_run(planes_scene(work, ev, bg), u, work / f"run{i}.mp4", encode=enc is not None,
                      preset=enc or preset, threaded=threaded)
        r.update(input=label, every=ev, planes_bg=bg, encode=enc or "none",
                 mode="prefetch + encode thread" if threaded else "sequential")
        rows.append(r)
    return {"frames": frames, "rows": rows}


def replay_throughput(work: Path) -> dict:
    """Replay of the recording (recorded tracking and planes, rendering, H.264)."""
    from arkit.recording import open_recording
    from arkit.runner import process
    from arkit.session import Session

    source, tracker = open_recording(work / "rec640")
    session = Session.from_scene(SCENE)
    session.tracker = tracker
    with source, session:
        rep = process(session, source, video_path=work / "replay.mp4")
    return {"replay_fps": rep.fps, "replay_x_realtime": rep.fps / 30.0,
            "replay_stage_ms": {k: round(v, 1) for k, v in rep.stage_ms.items()}}


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
    ap.add_argument("--planes-every", type=int, default=3, help="depth planes on every n-th frame (scene: planes.every)")
    ap.add_argument("--planes-inline", action="store_true", help="planes in the loop thread (scene: planes.background false)")
    ap.add_argument("--preset", default="superfast", help="x264 preset of the threaded rows")
    ap.add_argument("--only-throughput", action="store_true", help="only figure [1]")
    ap.add_argument("--stream-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stream_child:
        stream_child(int(args.stream_child[0]), args.stream_child[1])
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    frames = 90 if args.quick else 300
    short, long = (100, 600) if args.quick else (150, 1800)
    work = Path(tempfile.mkdtemp(prefix="arkit_bench_batch_"))
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        t = throughput(work, frames, args.planes_every, not args.planes_inline, args.preset)
        print(f"\n[1] 640x480 30 FPS marker_room with depth, {t['frames']} frames: marker tracking + depth planes "
              f"+ GL rendering (+ H.264), after 5 warm-up frames; 'bound' = what 2 idle cores allow: "
              f"min(1000 / main-thread CPU ms, 2000 / process CPU ms)")
        print("    CPU ms per frame: 'CPU' all threads; 'main' the loop thread; 'dec'/'enc' the prefetch and encoding "
              "threads; 'other' the rest (x264's threads, the planes worker, llvmpipe)")
        print(f"    {'input':<18} {'planes':<16} {'H.264':<10} {'mode':<26} {'FPS':>6} {'x real':>7} {'CPU':>6} "
              f"{'main':>6} {'dec':>5} {'enc':>5} {'other':>6} {'bound':>6}  main-loop stage ms (wall)")
        for r in t["rows"]:
            planes = ("every" if r["every"] == 1 else f"every {r['every']}") + (", thread" if r["planes_bg"] else "")
            bg = r["background_cpu_ms"]
            other = r["cpu_ms"] - r["main_cpu_ms"] - bg.get("decode", 0.0) - bg.get("encode", 0.0)
            print(f"    {r['input']:<18} {planes:<16} {r['encode']:<10} {r['mode']:<26} {r['fps']:6.1f} "
                  f"{r['x_realtime']:6.2f}x {r['cpu_ms']:6.1f} {r['main_cpu_ms']:6.1f} {bg.get('decode', 0.0):5.1f} "
                  f"{bg.get('encode', 0.0):5.1f} {other:6.1f} {r['bound_2core_fps']:6.1f}  {r['stage_ms']}")
        for inp in ("TUM folder (PNG)", "recording (H.264)"):
            rs = [r for r in t["rows"] if r["input"] == inp and r["mode"] != "sequential"]
            wo = next(r for r in rs if r["encode"] == "none")
            parts = [f"{r['fps']:.1f} FPS = {r['x_realtime']:.2f}x real time with H.264 {r['encode']} (2 idle cores: "
                     f"<= {r['bound_2core_fps'] / 30:.2f}x)" for r in rs if r["encode"] != "none"]
            print(f"    => {inp}, planes every {wo['every']}{' on a thread' if wo['planes_bg'] else ''}: "
                  + "; ".join(parts) + f"; without H.264 {wo['fps']:.1f} FPS = {wo['x_realtime']:.2f}x "
                  f"(2 idle cores: <= {wo['bound_2core_fps'] / 30:.2f}x)")
        print(f"    load average now {os.getloadavg()[0]:.1f}")
        rp = replay_throughput(work)
        print(f"    replay of the recording (recorded tracking and planes + rendering + H.264 superfast): "
              f"{rp['replay_fps']:.1f} FPS = {rp['replay_x_realtime']:.2f}x real time; stages ms {rp['replay_stage_ms']}")
        if args.only_throughput:
            return
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
