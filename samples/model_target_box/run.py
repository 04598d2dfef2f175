"""The model_target_box sample through the Python API (writes out/model_target_box.mp4).

    python samples/model_target_box/run.py [--out out/model_target_box.mp4] [--max-frames N]
"""

import argparse
from pathlib import Path

import arkit
from arkit.runner import process
from arkit.scene.scene_file import load_scene, resolve_data_path

HERE = Path(__file__).parent

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/model_target_box.mp4")
    ap.add_argument("--max-frames", type=int)
    args = ap.parse_args()
    sf = load_scene(HERE / "scene.yaml")
    session = arkit.Session.from_scene(sf)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    video = resolve_data_path(sf.source, HERE)
    with arkit.open_source(str(video), intrinsics=sf.intrinsics) as source, session:
        summary = process(session, source, video_path=args.out, progress=True, max_frames=args.max_frames)
    print(f"{summary.frames} frames, {summary.fps:.1f} FPS, tracked {100 * summary.tracking_coverage:.0f}%; wrote {args.out}")
