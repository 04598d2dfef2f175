"""The board_model sample through the Python API (writes out/board_model_api.mp4).

    python samples/board_model/run.py [SOURCE] [--out out/board_model_api.mp4]
"""

import argparse
from pathlib import Path

import arkit
from arkit.runner import process

HERE = Path(__file__).parent

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("source", nargs="?", default="builtin:marker_board")
    ap.add_argument("--out", default="out/board_model_api.mp4")
    args = ap.parse_args()
    session = arkit.Session.from_scene(HERE / "scene.yaml")
    with arkit.open_source(args.source) as source, session:
        summary = process(session, source, video_path=args.out, progress=True)
    print(f"{summary.frames} frames, {summary.fps:.1f} FPS, tracked {100 * summary.tracking_coverage:.0f}%; wrote {args.out}")
