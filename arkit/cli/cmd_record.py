"""``arkit record SCENE --source URI --out REC_DIR``: save frames and results for later replay."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("record", help="record a session (frames, depth, poses, trackables) for replay",
                       description="Run a scene's tracking on a source and save the camera frames, depth, "
                                   "intrinsics, per-frame camera state, trackables and anchors into a "
                                   "recording folder (see docs/recordings.md). Nothing is rendered.")
    p.add_argument("scene", help="scene file (YAML); its tracking section is used")
    p.add_argument("--source", help="video, folder, dataset, webcam index or builtin:<recipe> (default: the scene's)")
    p.add_argument("--intrinsics", help="intrinsics file for the source")
    p.add_argument("--out", required=True, help="recording folder to create")
    p.add_argument("--lossless", action="store_true", help="store frames as PNG instead of H.264 video")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51 (default 18)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--overwrite", action="store_true", help="replace an existing recording")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arkit.core.errors import ArkitError
    from arkit.io.sources import open_source
    from arkit.recording.recorder import record
    from arkit.scene.scene_file import load_scene
    from arkit.session import Session

    sf = load_scene(args.scene)
    uri = args.source or sf.source
    if uri is None:
        raise ArkitError(f"{args.scene} names no default source; pass --source")
    intrinsics = args.intrinsics or (sf.intrinsics if args.source is None else None)
    session = Session.from_scene(sf, render=False)
    with open_source(uri, intrinsics=intrinsics) as source, session:
        summary = record(session, source, args.out, lossless=args.lossless, crf=args.crf, overwrite=args.overwrite,
                         max_frames=args.max_frames, progress=not args.no_progress,
                         scene=str(Path(args.scene).resolve()))
    cover = 100.0 * summary.tracked_frames / max(summary.frames, 1)
    print(f"recorded {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} frames per second, "
          f"tracked {cover:.0f}%) to {summary.path}")
    return 0
