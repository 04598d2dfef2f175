"""Overlays on a real cookie box tracked as a 3D model target (writes out/model_target_box.mp4).

    .venv/bin/python samples/model_target_box/run.py [--source VIDEO] [--out out/model_target_box.mp4]

Reads ``scene.yaml``: its ``recognition`` section (model targets; ``world`` names the one that
defines the world) is handled here, the rest by :func:`arkit.scene.scene_file.load_scene`.
Paths starting with ``shared:`` are inside the real-data folder (``../shared/data`` or
``$ARKIT_SHARED_DATA``).
"""

import argparse
import tempfile
from pathlib import Path

import yaml

import arkit
from arkit.core.errors import InputFileError, SceneFileError
from arkit.io.shared_data import shared_data_path
from arkit.recognition.model_target_tracker import ModelTargetCameraTracker
from arkit.recognition.model_targets import ModelTarget
from arkit.runner import process
from arkit.scene.scene_file import load_scene

HERE = Path(__file__).parent


def resolve(path: str, base: Path) -> Path:
    if path.startswith("shared:"):
        p = shared_data_path(*path[len("shared:"):].split("/"))
        if p is None:
            raise InputFileError(f"{path}: real data not present (set ARKIT_SHARED_DATA to the data folder)")
        return p
    return (base / path).resolve()


def load(scene_path: Path):
    """(SceneFile without the recognition section, the world ModelTarget, raw scene dict)."""
    data = yaml.safe_load(scene_path.read_text())
    rec = data.pop("recognition", None)
    if not rec or not rec.get("model_targets"):
        raise SceneFileError(str(scene_path), "needs recognition.model_targets", key="recognition")
    targets = {}
    for i, t in enumerate(rec["model_targets"]):
        unknown = set(t) - {"name", "features", "mesh", "units_m", "up"}
        if unknown:
            raise SceneFileError(str(scene_path), f"unknown key(s) {sorted(unknown)}",
                                 key=f"recognition.model_targets[{i}]")
        targets[t["name"]] = ModelTarget.from_opencv_tutorial(
            resolve(t["features"], scene_path.parent), resolve(t["mesh"], scene_path.parent), name=t["name"],
            units_m=float(t.get("units_m", 1.0)), up=str(t.get("up", "+z")))
    world = rec.get("world", next(iter(targets)))
    if world not in targets:
        raise SceneFileError(str(scene_path), f"'{world}' is not one of {sorted(targets)}", key="recognition.world")
    if data.get("intrinsics"):
        data["intrinsics"] = str(resolve(data["intrinsics"], scene_path.parent))
    with tempfile.TemporaryDirectory() as tmp:  # the rest is a plain arkit scene file
        rest = Path(tmp) / scene_path.name
        rest.write_text(yaml.safe_dump(data, sort_keys=False))
        sf = load_scene(rest)
    return sf, targets[world], data


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene", default=str(HERE / "scene.yaml"))
    ap.add_argument("--source", help="video (default: the scene's source)")
    ap.add_argument("--out", default="out/model_target_box.mp4")
    ap.add_argument("--max-frames", type=int)
    args = ap.parse_args()
    scene_path = Path(args.scene)
    sf, target, data = load(scene_path)
    source_path = args.source or str(resolve(data["source"], scene_path.parent))
    r = sf.render
    session = arkit.Session(ModelTargetCameraTracker(target), sf.scene, render=True,
                            renderer_backend=r.get("backend", "auto"), samples=r.get("samples", 4))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with arkit.open_source(source_path, intrinsics=sf.intrinsics) as source, session:
        summary = process(session, source, video_path=args.out, progress=True, max_frames=args.max_frames)
    print(f"{summary.frames} frames, {summary.fps:.1f} FPS, tracked {100 * summary.tracking_coverage:.0f}%; "
          f"wrote {args.out}")
