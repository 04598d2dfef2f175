"""End-to-end pipeline speed for the marker_cube sample at 640x480.

Prints per-stage milliseconds (decode, track, scene, render, composite, encode; with the default
threaded loop, "decode" and "encode" are the loop's waits and the "thr ms" rows the CPU time of
the prefetch and encoding threads per frame) and the
end-to-end frames per second with and without encoding, after a few warm-up frames (GL context
creation and shader compilation happen once per process and are not part of the frame rate). The input is the built-in synthetic
marker_room sequence, first encoded to an H.264 video (not timed) so decoding is a real video
decode, as for a user's recording.

    python benchmarks/pipeline.py [--frames 300] [--renderer auto|gl|software]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--renderer", default="auto")
    ap.add_argument("--warmup", type=int, default=10, help="frames run before timing (GL set-up, shader compilation)")
    args = ap.parse_args()

    from arkit.io.sources import open_source
    from arkit.io.video_writer import VideoWriter
    from arkit.runner import process
    from arkit.session import Session
    from arkit.synthetic import ensure_builtin_sequence

    seq = ensure_builtin_sequence("marker_room", num_frames=args.frames, width=640, height=480)
    scene = ROOT / "samples" / "marker_cube" / "scene.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "input.mp4"
        with open_source(str(seq)) as src, VideoWriter(video, 30.0, crf=12) as w:
            intrinsics = src.intrinsics
            for frame in src:
                w.write(frame.image_rgb)
        from arkit.io.intrinsics_files import save_intrinsics

        calib = Path(tmp) / "intrinsics.yaml"
        save_intrinsics(intrinsics, calib)

        rows = []
        for label, out in (("without encoding", None), ("with encoding", Path(tmp) / "out.mp4")):
            session = Session.from_scene(scene, renderer_backend=args.renderer)
            with open_source(str(video), intrinsics=str(calib)) as src, session:
                # Warm-up (not timed): GL context creation and first-frame shader compilation.
                for i, frame in enumerate(src):
                    session.step(frame)
                    if i + 1 >= args.warmup:
                        break
            with open_source(str(video), intrinsics=str(calib)) as src, session:
                t0 = time.perf_counter()
                summary = process(session, src, video_path=out)
                wall = time.perf_counter() - t0
                backend = session.renderer.backend if session.renderer else "none"
            rows.append((label, summary, wall, backend))

    print(f"marker_cube sample, {args.frames} frames at 640x480, renderer={rows[0][3]}, "
          f"after {args.warmup} warm-up frames; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'stage':<12}" + "".join(f"{r[0]:>20}" for r in rows))
    stages = ("decode", "track", "scene", "render", "composite", "encode")
    for st in stages:
        print(f"{st + ' ms':<12}" + "".join(f"{r[1].stage_ms.get(st, 0.0):>20.2f}" for r in rows))
    for st in ("decode", "encode"):
        print(f"{st + ' thr ms':<12}" + "".join(f"{r[1].background_cpu_ms.get(st, 0.0):>20.2f}" for r in rows))
    print(f"{'FPS':<12}" + "".join(f"{r[1].frames / r[2]:>20.1f}" for r in rows))
    print(f"{'tracked':<12}" + "".join(f"{100 * r[1].tracking_coverage:>19.0f}%" for r in rows))
    fps = rows[0][1].frames / rows[0][2]
    print(f"end-to-end without encoding: {fps:.1f} FPS (target >= 60)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
