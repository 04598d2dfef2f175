"""``arkit run SCENE``: run a scene on a source and write the composited video and results."""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("run", help="run an AR scene on a video, folder, recording or webcam",
                       description="Run a scene file on a source; without --source the scene's own "
                                   "default source (built-in synthetic data for the samples) is used.")
    p.add_argument("scene", help="scene file (YAML)")
    p.add_argument("--source", help="video file, image folder, TUM RGB-D folder, webcam index, or builtin:<recipe>")
    p.add_argument("--intrinsics", help="intrinsics file (arkit YAML/JSON or OpenCV calibration)")
    p.add_argument("--out", help="write the composited video here (.mp4, H.264)")
    p.add_argument("--trajectory", help="write the camera trajectory here")
    p.add_argument("--trajectory-format", default="tum", choices=("tum", "kitti", "euroc"))
    p.add_argument("--results", help="write one JSON object per frame here (JSON lines)")
    p.add_argument("--show", action="store_true", help="show frames in a window (when a display exists)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--renderer", choices=("auto", "gl", "software"), help="override the scene's renderer backend")
    p.add_argument("--debug-planes", action="store_true", help="draw detected plane polygons and labels")
    p.add_argument("--preset", choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"),
                   help="x264 preset of the output video (default superfast: speed over file size)")
    p.add_argument("--crf", type=int, help="x264 constant rate factor, 0-51 (default 20; lower is better quality)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arkit.core.errors import ArkitError
    from arkit.io.sources import open_source
    from arkit.runner import process
    from arkit.scene.scene_file import load_scene
    from arkit.session import Session

    sf = load_scene(args.scene)
    uri = args.source or sf.source
    if uri is None:
        raise ArkitError(f"{args.scene} names no default source; pass --source (a video, folder or webcam index)")
    if args.source is None and uri.startswith("shared:"):
        from arkit.scene.scene_file import resolve_data_path

        uri = str(resolve_data_path(uri, sf.path.parent))
    intrinsics = args.intrinsics or (sf.intrinsics if args.source is None else None)
    overrides = {"renderer_backend": args.renderer} if args.renderer else {}
    if args.debug_planes:
        overrides["debug_planes"] = True
    video_options = {k: v for k, v in (("preset", args.preset), ("crf", args.crf)) if v is not None}
    if args.crf is not None and not 0 <= args.crf <= 51:
        raise ArkitError(f"--crf {args.crf}: the x264 constant rate factor must be between 0 and 51")
    session = Session.from_scene(sf, **overrides)
    with open_source(uri, intrinsics=intrinsics) as source, session:
        summary = process(session, source, video_path=args.out, trajectory_path=args.trajectory,
                          trajectory_format=args.trajectory_format, results_path=args.results,
                          show=args.show, progress=not args.no_progress, max_frames=args.max_frames,
                          video_options=video_options or None)
    stages = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(summary.stage_ms.items()))
    print(f"{summary.frames} frames in {summary.seconds:.1f} s: {summary.fps:.1f} frames per second "
          f"(tracked {100 * summary.tracking_coverage:.0f}%; {stages})")
    if summary.skipped_frames:
        print(f"skipped {summary.skipped_frames} unreadable frames", file=sys.stderr)
    for kind, path in summary.outputs.items():
        print(f"wrote {kind}: {path}")
    return 0
