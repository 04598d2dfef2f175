"""The marker_cube sample through the Python API (what `arkit run` does, in a few lines).

    python samples/marker_cube/run.py [SOURCE] [--out out/marker_cube_api.mp4]
"""

import argparse
from pathlib import Path

import arkit
from arkit.runner import process

HERE = Path(__file__).parent

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("source", nargs="?", default="builtin:marker_room")
    ap.add_argument("--out", default="out/marker_cube_api.mp4")
    args = ap.parse_args()
    session = arkit.Session.from_scene(HERE / "scene.yaml")
    with arkit.open_source(args.source) as source, session:
        summary = process(session, source, video_path=args.out, progress=True)
    print(f"{summary.frames} frames, {summary.fps:.1f} FPS, tracked {100 * summary.tracking_coverage:.0f}%; wrote {args.out}")
