"""``arkit export REC_DIR --gltf scene.glb --json trackables.json --trajectory traj.txt``."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("export", help="export a recording's scene (glTF), trackables (JSON), trajectory, rerun file",
                       description="Export what a recording saw: planes, trackables, anchors and overlays as a "
                                   "binary glTF, trackables as JSON, the camera trajectory (TUM/KITTI/EuRoC), "
                                   "and optionally a rerun .rrd file (needs rerun-sdk).")
    p.add_argument("recording", help="recording folder (from `arkit record`)")
    p.add_argument("--gltf", help="write the scene as binary glTF (.glb)")
    p.add_argument("--json", help="write planes, trackables and anchors as JSON")
    p.add_argument("--trajectory", help="write the tracked camera trajectory")
    p.add_argument("--trajectory-format", default="tum", choices=("tum", "kitti", "euroc"))
    p.add_argument("--rrd", help="write a rerun recording (.rrd; needs `pip install rerun-sdk`)")
    p.add_argument("--scene", help="scene file whose overlays go into the glTF (default: the recorded one)")
    p.add_argument("--frame", type=int, help="export the state at this source frame index (default: the last)")
    p.add_argument("--no-camera-path", action="store_true", help="leave the camera path out of the glTF")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arkit.core.errors import ArkitError
    from arkit.export.snapshot import recording_state

    if not (args.gltf or args.json or args.trajectory or args.rrd):
        raise ArkitError("nothing to export: pass --gltf, --json, --trajectory and/or --rrd")
    state = recording_state(args.recording, until_frame=args.frame)
    print(f"{state.path}: {state.frames} frames, "
          f"{len(state.trackables)} trackables ({len(state.planes)} planes), {len(state.anchors)} anchors, "
          f"{len(state.timestamps_s)} tracked poses")
    if args.gltf:
        from arkit.export.gltf import export_gltf

        print(f"wrote glTF: {export_gltf(state, args.gltf, args.scene, camera_path=not args.no_camera_path)}")
    if args.json:
        from arkit.export.json_export import export_json

        print(f"wrote JSON: {export_json(state, args.json)}")
    if args.trajectory:
        from pathlib import Path

        from arkit.io.trajectory_formats import write_trajectory

        Path(args.trajectory).parent.mkdir(parents=True, exist_ok=True)
        write_trajectory(state.trajectory(), args.trajectory, args.trajectory_format)
        print(f"wrote trajectory ({args.trajectory_format}): {args.trajectory}")
    if args.rrd:
        from arkit.export.rerun_export import export_rrd

        print(f"wrote rerun recording: {export_rrd(args.recording, args.rrd, max_frames=None if args.frame is None else args.frame + 1)}")
    return 0
