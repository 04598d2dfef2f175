"""Recording, replay and batch figures.

1. Throughput of a 640x480 30 FPS synthetic sequence with depth: marker tracking + depth planes
   + GL rendering, with and without H.264 output (``arkit run``'s loop): the old sequential loop
   (planes on every frame) and the background one (frames decoded ahead on a thread, H.264
   encoded in a child process, planes on every n-th frame in a child process; and the same with
   both workers as threads) for each ``--planes-every`` value (default 3 and 1), from the
   TUM-layout PNG folder, from an arkit recording (H.264 + zstd16 depth) and from the same
   recording with 16-bit PNG depth (the version 1 storage), with the x264 presets ``--preset``
   and ``--also-presets``; each background case ``--repeat`` times, interleaved, median reported;
   CPU per frame per thread or child process (main loop, prefetch, encoding, planes worker,
   llvmpipe); one headline line per row; and the replay of the recording. Multiples of real time.
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


def planes_scene(work: Path, every: int, background) -> Path:
    """The marker_cube sample with depth planes on every ``every``-th frame, maybe beside the loop
    (``planes: {every: N, background: process | thread}``)."""
    import yaml

    data = yaml.safe_load(SCENE.read_text())
    data["name"] = f"marker_cube_planes_every{every}"
    data["planes"] = {"enabled": True, "every": every, "background": background}
    path = work / f"scene_planes_every{every}_{background}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def task_cpu_s() -> dict:
    """``{tid: (thread name, CPU seconds)}`` of this process's threads (Linux ``/proc``; empty elsewhere).

    Native threads (llvmpipe, x264, numba, OpenCV) are invisible to ``time.thread_time`` calls in
    Python threads; this sees them. ``schedstat`` (ns) when the kernel has it, else utime+stime."""
    from arkit.core.zygote import stat_cpu_s

    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for t in tids:
        base = f"/proc/self/task/{t}"
        try:
            with open(f"{base}/comm") as f:
                comm = f.read().strip()
            try:
                with open(f"{base}/schedstat") as f:
                    cpu = int(f.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                cpu = stat_cpu_s(f"{base}/stat")
        except OSError:
            continue   # the thread ended meanwhile
        out[int(t)] = (comm, cpu)
    return out


def native_thread_cpu(before: dict, after: dict, exclude: set) -> dict:
    """CPU seconds per thread-name group (digits stripped: ``llvmpipe-0`` -> ``llvmpipe``) between
    two :func:`task_cpu_s` snapshots, for threads not in ``exclude`` (tids measured elsewhere)."""
    import re

    groups = {}
    for tid, (comm, cpu) in after.items():
        if tid in exclude:
            continue
        name = re.sub(r"[-_:]?\d+$", "", comm) or comm
        groups[name] = groups.get(name, 0.0) + cpu - before.get(tid, (comm, 0.0))[1]
    return groups


def timed_run(scene: Path, uri: str, out: Path, *, encode: bool, preset: str, threaded: bool, warmup: int = 5,
              encode_in: str = "process") -> dict:
    """One ``arkit run`` loop (:func:`arkit.runner.process`) over ``uri`` with ``scene``.

    The session first runs ``warmup`` frames of the input (numba compilation or loading of the
    plane kernels, the GL context and the planes child process start once per run, not per
    frame). Returns FPS, CPU ms per frame of this process (all threads) and of the child
    processes (planes, encoding: their CPU over the loop), and per thread: the main loop thread,
    the prefetch ("dec"), encoding ("enc": the encoding thread with x264 inside, or the encoding
    child process) and planes worker (thread or child process), and the native threads
    (llvmpipe's rasterisers, ...) from ``/proc`` snapshots taken after the first frame and at the
    end of the loop (so those are per frame over frames 2..n).
    """
    import threading

    from arkit.core import zygote
    from arkit.io.sources import open_source
    from arkit.runner import process
    from arkit.session import Session

    snap = {}

    def first(result):
        if "t" not in snap:
            snap["t"] = task_cpu_s()

    with Session.from_scene(scene) as s:
        with open_source(uri) as src:
            for i, f in zip(range(warmup), src):
                s.step(f)
        with open_source(uri) as src:
            fps_src = src.fps or 30.0
            c0, m0, z0 = time.process_time(), time.thread_time(), zygote.cpu_s()
            run = process(s, src, video_path=out if encode else None, results_path=out.with_suffix(".jsonl"),
                          prefetch=4 if threaded else 0, background_encode=encode_in if threaded else False,
                          on_result=first,
                          video_options={"preset": preset} if threaded else {"preset": preset, "options": {}})
            cpu, main_cpu = time.process_time() - c0, time.thread_time() - m0
            end, z1 = task_cpu_s(), zygote.cpu_s()
            python_tids = {t.native_id for t in threading.enumerate()}
            native = native_thread_cpu(snap.get("t", {}), end, python_tids)
    n = max(run.frames, 1)
    children = dict(run.child_cpu_ms)
    # the process that forks the workers (its start-up was before the loop, with the planes child's)
    children["zygote"] = 1e3 * (z1 - z0) / n
    cpu_ms, main_ms = 1e3 * cpu / n + sum(children.values()), 1e3 * main_cpu / n
    native_ms = {k: 1e3 * v / max(n - 1, 1) for k, v in native.items() if v > 0}
    return {"frames": run.frames, "fps": run.fps, "x_realtime": run.fps / fps_src, "tracked": run.tracking_coverage,
            "cpu_ms": cpu_ms, "main_cpu_ms": main_ms, "children_cpu_ms": children,
            # what 2 idle cores allow: the main loop thread is serial, the rest can overlap with it
            "bound_2core_fps": min(1e3 / main_ms, 2e3 / cpu_ms),
            "stage_ms": {k: round(v, 1) for k, v in run.stage_ms.items()},
            "background_cpu_ms": {k: round(v, 1) for k, v in run.background_cpu_ms.items()},
            "native_cpu_ms": {k: round(v, 1) for k, v in native_ms.items()}}


def png16_copy(rec: Path, out: Path) -> Path:
    """A copy of recording ``rec`` with its depth stored as 16-bit PNG, as arkit wrote recordings
    before the zstd16 depth encoding (format version 1)."""
    from arkit.recording import depth_codec, read_info
    from arkit.recording.format import DEPTH_DIR, HEADER_FILE

    info = read_info(rec)
    shutil.copytree(rec, out)
    for i in range(info.frames):
        src = out / DEPTH_DIR / depth_codec.depth_file(i, info.depth_encoding)
        if src.exists():
            mm = depth_codec.read_depth_mm(src, info.depth_encoding, info.width, info.height)
            depth_codec.write_depth_mm(out / DEPTH_DIR / depth_codec.depth_file(i, "png16"), mm, "png16")
            if info.depth_encoding != "png16":
                src.unlink()
    header = json.loads((out / HEADER_FILE).read_text())
    header.pop("depth_encoding", None)
    header["version"] = 1
    (out / HEADER_FILE).write_text(json.dumps(header))
    return out


def throughput(work: Path, frames: int, everies: list, background, preset: str, repeat: int = 1,
               extra_presets: tuple = ()) -> dict:
    """Marker tracking + depth planes + GL rendering (+ H.264) over a 640x480 30 FPS recording.

    Three inputs of the same synthetic sequence (with depth): the TUM-layout folder (PNG colour and
    16-bit PNG depth), an arkit recording of it (H.264 video and zstd16 depth) and the same
    recording with 16-bit PNG depth (as recorded before zstd16); the recording's poses are not
    used: the markers are tracked again.

    The threaded cases run ``repeat`` times, interleaved (round 1 of every case, then round 2...),
    so a slow spell of a shared machine hits every case alike; each row is the run with the median
    FPS, with the lowest and highest FPS beside it. ``extra_presets`` adds H.264 rows (recording
    input) with other x264 presets."""
    from arkit.io.sources import open_source
    from arkit.recording import record
    from arkit.session import Session

    uri = f"builtin:marker_room:{frames}"
    with open_source(uri) as src, Session.from_scene(SCENE, render=False) as s:   # generated once into the cache
        record(s, src, work / "rec640")
    rows = []
    rec = str(work / "rec640")
    rec_png = str(png16_copy(work / "rec640", work / "rec640_png16"))
    # (input, uri, planes every, planes background (False / "process" / "thread"), H.264 preset,
    #  prefetch + background encoding, encoding in "process" or "thread")
    cases = [("TUM folder (PNG)", uri, 1, False, "veryfast", False, None)]     # the loop before the threaded one
    for ev in everies:
        cases += [("TUM folder (PNG)", uri, ev, background, preset, True, "process"),
                  ("TUM folder (PNG)", uri, ev, background, None, True, "process"),
                  ("rec H.264+zstd16", rec, ev, background, preset, True, "process"),
                  ("rec H.264+zstd16", rec, ev, background, None, True, "process"),
                  ("rec H.264+png16", rec_png, ev, background, preset, True, "process")]
        cases += [("rec H.264+zstd16", rec, ev, background, p, True, "process") for p in extra_presets]
        if background == "process":   # the same with the workers as threads (arkit before child processes)
            cases += [("rec H.264+zstd16", rec, ev, "thread", preset, True, "thread")]
    runs = {}
    for round_ in range(max(1, repeat)):
        for i, (label, u, ev, bg, enc, threaded, enc_in) in enumerate(cases):
            if not threaded and round_:
                continue   # the sequential reference runs once
            r = timed_run(planes_scene(work, ev, bg), u, work / f"run{i}.mp4", encode=enc is not None,
                          preset=enc or preset, threaded=threaded, encode_in=enc_in or "process")
            r.update(input=label, every=ev, planes_bg=bg, encode=enc or "none", encode_in=enc_in if enc else None,
                     mode="prefetch + background" if threaded else "sequential", load=os.getloadavg()[0])
            runs.setdefault(i, []).append(r)
    for i in sorted(runs):
        rs = sorted(runs[i], key=lambda r: r["fps"])
        row = dict(rs[len(rs) // 2])
        row.update(runs=len(rs), fps_min=rs[0]["fps"], fps_max=rs[-1]["fps"])
        rows.append(row)
    return {"frames": frames, "rows": rows, "repeat": repeat}


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
    # defaults: 1 worker's job uses its helper thread and processes, 2 workers' jobs run single-core
    # (arkit.batch.jobs.single_core_jobs); last, 2 workers whose jobs keep their helpers
    for key, workers, opts in ((1, 1, {}), (2, 2, {}), ("2_helpers", 2, {"single_core": False}),
                               ("1_single", 1, {"single_core": True})):
        t0 = time.perf_counter()
        rows = run_batch(inputs, SCENE, work / f"batch_w{key}", workers=workers, **opts)
        out[key] = time.perf_counter() - t0
        assert all(r["status"] == "done" for r in rows), rows
    frames = sum(r["frames"] for r in rows)
    return {"jobs": len(inputs), "frames": frames, "wall_1_worker_s": out[1], "wall_2_workers_s": out[2],
            "scaling_2_vs_1": out[1] / out[2], "wall_2_workers_helpers_s": out["2_helpers"],
            "scaling_2_helpers_vs_1": out[1] / out["2_helpers"], "wall_1_worker_single_core_s": out["1_single"],
            "scaling_single_core_2_vs_1": out["1_single"] / out[2]}


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
    """Record then replay a ``frames``-long stream cycling 30 in-memory frames; print RSS figures
    (the streaming peak adds the RSS of the child processes, e.g. the video encoder)."""
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
            for child in proc.children(recursive=True):   # the encoding process (and any other)
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass
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


def _tracking_kind() -> str:
    import yaml

    tr = yaml.safe_load(SCENE.read_text())["tracking"]
    dp = tr.get("detector_params", {})
    fast = dp.get("adaptiveThreshWinSizeMin") == dp.get("adaptiveThreshWinSizeMax") == 7 or tr.get("preset") == "fast"
    return f"{tr['type']} ({'fast: one threshold scale' if fast else 'default: three threshold scales'})"


def print_throughput(t: dict) -> None:
    print(f"\n[1] 640x480 30 FPS marker_room with depth, {t['frames']} frames: marker tracking ({_tracking_kind()}) "
          f"+ depth planes + GL rendering (+ H.264), after 5 warm-up frames; 'bound' = what 2 idle cores allow: "
          f"min(1000 / main-thread CPU ms, 2000 / process CPU ms)")
    print("    CPU ms per frame: 'CPU' all threads of the process (process_time) + the child processes; "
          "'main' the loop thread (tracking, scene, GL calls, composite), 'dec' prefetch thread (decoding), "
          "'enc' encoding child process or thread (x264 inside; the child's start-up included), 'planes' plane "
          "worker child process or thread, 'GL' llvmpipe rasteriser threads, 'rest' = CPU - the others (other "
          "native threads, frame 1, thread start-up, the encoder's sender thread)")
    print(f"    {'input':<18} {'planes':<16} {'H.264':<18} {'mode':<12} {'FPS':>6} {'x real':>7} {'CPU':>6} "
          f"{'main':>6} {'dec':>5} {'enc':>5} {'planes':>6} {'GL':>5} {'rest':>5} {'bound':>6} {'load':>5}  "
          f"main-loop stage ms (wall)")
    for r in t["rows"]:
        planes = ("every" if r["every"] == 1 else f"every {r['every']}") + (f", {r['planes_bg']}" if r["planes_bg"] else "")
        enc_label = r["encode"] + (f" ({r['encode_in']})" if r.get("encode_in") else "")
        bg, nat = r["background_cpu_ms"], r["native_cpu_ms"]
        gl = sum(v for k, v in nat.items() if k.startswith("llvmpipe"))
        known = r["main_cpu_ms"] + bg.get("decode", 0.0) + bg.get("encode", 0.0) + bg.get("planes", 0.0) + gl
        print(f"    {r['input']:<18} {planes:<16} {enc_label:<18} {r['mode'].split(' ')[0]:<12} {r['fps']:6.1f} "
              f"{r['x_realtime']:6.2f}x {r['cpu_ms']:6.1f} {r['main_cpu_ms']:6.1f} {bg.get('decode', 0.0):5.1f} "
              f"{bg.get('encode', 0.0):5.1f} {bg.get('planes', 0.0):6.1f} {gl:5.1f} {r['cpu_ms'] - known:5.1f} "
              f"{r['bound_2core_fps']:6.1f} {r['load']:5.1f}  {r['stage_ms']}")
        other = {k: v for k, v in nat.items() if not k.startswith("llvmpipe") and v >= 0.1}
        if other:
            print(f"    {'':<18} other native threads, CPU ms per frame: {other}")
    print("    headline (target: tracking + planes + rendering (+ H.264) on a 640x480 30 FPS input at >= 2x real "
          "time on 2 cores; wall FPS depends on the machine's load, 'CPU bound' is what 2 idle cores allow):")
    for r in t["rows"]:
        if r["mode"] == "sequential":
            continue
        planes = f"planes every {r['every']}" + (f" in a {'child process' if r['planes_bg'] == 'process' else 'thread'}"
                                                  if r["planes_bg"] else "")
        enc = (f"H.264 {r['encode']} encoded in a {'child process' if r['encode_in'] == 'process' else 'thread'}"
               if r["encode"] != "none" else "no video output")
        spread = (f" (median of {r['runs']} runs, {r['fps_min']:.1f}-{r['fps_max']:.1f} FPS = "
                  f"{r['fps_min'] / 30:.2f}-{r['fps_max'] / 30:.2f}x)" if r.get("runs", 1) > 1 else "")
        print(f"    => input {r['input']}, tracking {_tracking_kind()}, {planes}, GL rendering, {enc}: "
              f"{r['fps']:.1f} FPS = {r['x_realtime']:.2f}x real time{spread} (load {r['load']:.1f}); "
              f"CPU {r['cpu_ms']:.1f} ms/frame (main thread {r['main_cpu_ms']:.1f}) -> 2-core CPU bound "
              f"{r['bound_2core_fps']:.1f} FPS = {r['bound_2core_fps'] / 30:.2f}x")
    print(f"    load average now {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller figures (about a minute)")
    ap.add_argument("--planes-every", type=int, nargs="+", default=[3, 1],
                    help="depth planes on every n-th frame (scene: planes.every); one set of rows per value")
    ap.add_argument("--planes-inline", action="store_true", help="planes in the loop thread (scene: planes.background false)")
    ap.add_argument("--planes-background", default="process", choices=["process", "thread"],
                    help="where background planes run (scene: planes.background)")
    ap.add_argument("--preset", default="superfast", help="x264 preset of the threaded rows")
    ap.add_argument("--only-throughput", action="store_true", help="only figure [1]")
    ap.add_argument("--only-batch", action="store_true", help="only figure [2] (batch scaling)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each threaded case of [1] (median reported)")
    ap.add_argument("--also-presets", nargs="*", default=["ultrafast"],
                    help="extra x264 presets for the recording rows of [1]")
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
        if not args.only_batch:
            t = throughput(work, frames, args.planes_every, False if args.planes_inline else args.planes_background,
                           args.preset, repeat=1 if args.quick else args.repeat, extra_presets=tuple(args.also_presets))
            print_throughput(t)
            rp = replay_throughput(work)
            print(f"    replay of the recording (recorded tracking and planes + rendering + H.264 superfast): "
                  f"{rp['replay_fps']:.1f} FPS = {rp['replay_x_realtime']:.2f}x real time; stages ms {rp['replay_stage_ms']}")
        if args.only_throughput:
            return
        # 240-frame jobs: with 60 the process pool's start-up (forkserver, preloading arkit) and
        # each job's own (GL context, encoder process) weigh more than the frames
        inputs = make_batch_inputs(work, 8, 30 if args.quick else 240)
        b = batch_scaling(work, inputs)
        print(f"\n[2] batch of {b['jobs']} recordings (320x240, {b['frames']} frames in all): "
              f"1 worker {b['wall_1_worker_s']:.1f} s, 2 workers {b['wall_2_workers_s']:.1f} s, "
              f"scaling {b['scaling_2_vs_1']:.2f}x (2 workers: single-core jobs, the default when the jobs "
              f"fill the cores; with each job's helper thread and processes as for 1 worker: "
              f"{b['wall_2_workers_helpers_s']:.1f} s, {b['scaling_2_helpers_vs_1']:.2f}x)\n"
              f"    the pool alone, single-core jobs both ways: 1 worker {b['wall_1_worker_single_core_s']:.1f} s, "
              f"2 workers {b['wall_2_workers_s']:.1f} s, scaling {b['scaling_single_core_2_vs_1']:.2f}x (1 worker's "
              f"default job also keeps part of the second core busy, which bounds the ratio above)")
        if args.only_batch:
            return
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
