"""The planes_floor sample through the Python API, plus a tap-to-place raycast.

    python samples/planes_floor/run.py [SOURCE] [--out out/planes_floor_api.mp4]

Same as ``arkit run samples/planes_floor/scene.yaml``; additionally prints where a ray through
the image centre meets the tracked planes on the last frame (``Session.raycast``).
"""

import argparse
from pathlib import Path

import arkit
from arkit.runner import process

HERE = Path(__file__).parent

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("source", nargs="?", default="builtin:textured_room")
    ap.add_argument("--out", default="out/planes_floor_api.mp4")
    ap.add_argument("--max-frames", type=int)
    args = ap.parse_args()
    session = arkit.Session.from_scene(HERE / "scene.yaml")
    with arkit.open_source(args.source) as source, session:
        summary = process(session, source, video_path=args.out, progress=True, max_frames=args.max_frames)
        last = session._last_result
        if last is not None:
            w, h = last.intrinsics.width, last.intrinsics.height
            for hit in session.raycast(w / 2, h / 2):
                print(f"centre ray hits {hit.trackable_id} at {hit.point_world.round(3).tolist()} "
                      f"({hit.distance_m:.2f} m)")
    print(f"{summary.frames} frames, {summary.fps:.1f} FPS, tracked {100 * summary.tracking_coverage:.0f}%; wrote {args.out}")
