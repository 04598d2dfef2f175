"""``arkit replay REC_DIR --scene SCENE --out video.mp4``: draw a scene onto a recording."""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("replay", help="render a scene onto a recording using its recorded tracking",
                       description="Replay a recording made by `arkit record`: the recorded camera poses and "
                                   "trackables drive the scene (no tracking is recomputed), so any scene can be "
                                   "drawn onto an old recording, deterministically.")
    p.add_argument("recording", help="recording folder")
    p.add_argument("--scene", required=True, help="scene file whose content is drawn (its tracker is not used)")
    p.add_argument("--out", help="composited video (.mp4)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="playback speed: 2 skips every other frame, 0.5 shows each frame twice (default 1)")
    p.add_argument("--trajectory", help="write the replayed camera trajectory here")
    p.add_argument("--trajectory-format", default="tum", choices=("tum", "kitti", "euroc"))
    p.add_argument("--results", help="write one JSON object per frame here (JSON lines)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--rerun-stages", action="store_true",
                   help="run the scene's plane/recognition stages again instead of replaying the recorded ones")
    p.add_argument("--renderer", choices=("auto", "gl", "software"), help="override the scene's renderer backend")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arkit.recording.replay import replay_session
    from arkit.runner import process

    overrides = {"renderer_backend": args.renderer} if args.renderer else {}
    session, source, tracker = replay_session(args.recording, args.scene, rerun_stages=args.rerun_stages,
                                              speed=args.speed, max_frames=args.max_frames, **overrides)
    try:
        with source, session:
            summary = process(session, source, video_path=args.out, trajectory_path=args.trajectory,
                              trajectory_format=args.trajectory_format, results_path=args.results,
                              progress=not args.no_progress)
    finally:
        tracker.close()
    print(f"replayed {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} frames per second; "
          f"tracked {100 * summary.tracking_coverage:.0f}%)")
    if summary.skipped_frames:
        print(f"skipped {summary.skipped_frames} unreadable frames", file=sys.stderr)
    for kind, path in summary.outputs.items():
        print(f"wrote {kind}: {path}")
    return 0
