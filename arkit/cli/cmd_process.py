"""``arkit process INPUTS... --scene S --out DIR``: batch-process recordings, one job each."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("process", help="batch-process recordings (one idempotent job per input)",
                       description="Run a scene on many inputs (files, folders, globs; a folder of recordings "
                                   "expands to its recordings). Each job writes DIR/<name>/ with video.mp4, "
                                   "trajectory.txt, results.jsonl, job.log and DONE.json (written last). Finished "
                                   "jobs are skipped on rerun; unfinished ones are cleared and redone. A failing "
                                   "job never stops the others. See docs/recordings.md.")
    p.add_argument("inputs", nargs="+", help="recordings, videos, dataset folders or glob patterns")
    p.add_argument("--scene", required=True, help="scene file")
    p.add_argument("--out", required=True, help="batch output folder")
    p.add_argument("--workers", type=int, default=1, help="parallel jobs (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local worker processes (default) or Ray (pip install ray)")
    p.add_argument("--tracking", choices=("scene", "recorded"), default="scene",
                   help="run the scene's tracker (default) or reuse an arkit recording's tracking")
    p.add_argument("--no-video", action="store_true", help="do not write video.mp4")
    p.add_argument("--trajectory-format", default="tum", choices=("tum", "kitti", "euroc"))
    p.add_argument("--renderer", choices=("auto", "gl", "software"), help="override the scene's renderer backend")
    p.add_argument("--max-frames", type=int, help="stop each job after N frames")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from arkit.batch.run import run_batch
    from arkit.batch.summary import SUMMARY_CSV, SUMMARY_JSON, format_table

    def show(row: dict) -> None:
        extra = f": {row['error']}" if row.get("error") else ""
        print(f"[{row['status']}] {row['name']}{extra}", flush=True)

    rows = run_batch(args.inputs, args.scene, args.out, workers=args.workers, executor=args.executor,
                     on_result=show, tracking=args.tracking, video=not args.no_video,
                     trajectory_format=args.trajectory_format, renderer=args.renderer, max_frames=args.max_frames)
    if not rows:
        print("no inputs matched")
        return 2
    print()
    print(format_table(rows))
    print(f"wrote {Path(args.out) / SUMMARY_JSON} and {Path(args.out) / SUMMARY_CSV}")
    return 1 if any(r["status"] == "failed" for r in rows) else 0
