"""Synthetic sequence generation speed (frames/s) and where the time goes.

Generates ``marker_room`` sequences at 640x480 (and 320x240) into a temporary folder and prints:
scene build time (procedural textures + meshes), per-frame render time, PNG writing time and the
overall frames/s of :func:`arkit.synthetic.generate_sequence`, plus the cost ratio of motion blur.
The machine is shared, so compare ratios from one run.

    .venv/bin/python benchmarks/synthetic.py [--frames 60] [--backend auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path



def _time_generate(recipe, out, frames, w, h, backend, **kw) -> float:
    t0 = time.perf_counter()
    from arkit.synthetic import generate_sequence

    generate_sequence(recipe, out, num_frames=frames, width=w, height=h, backend=backend, overwrite=True, **kw)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--recipe", default="marker_room")
    args = ap.parse_args()

    from arkit.core.camera import Intrinsics
    from arkit.render import create_renderer
    from arkit.synthetic import load_recipe
    from arkit.synthetic.camera_paths import make_camera_path
    from arkit.synthetic.scene_meshes import _cached_texture, build_draw_items
    from arkit.synthetic.tum_layout import encode_depth, write_png

    spec = load_recipe(args.recipe)
    _cached_texture.cache_clear()
    t0 = time.perf_counter()
    items = build_draw_items(spec)
    t_build = time.perf_counter() - t0
    print(f"scene build ({args.recipe}, {len(items)} meshes, textures at {spec.px_per_m:.0f} px/m): {t_build:.2f} s")

    path = make_camera_path(spec.camera, duration_s=args.frames / 30.0, seed=0)
    _, T = path.frames(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in ((640, 480), (320, 240)):
            K = Intrinsics.from_fov(w, h, 60.0, warn=False)
            for samples in (0, 4):
                with create_renderer(w, h, backend=args.backend, samples=samples) as r:
                    r.render(items, K, T[0])  # uploads textures
                    n = min(20, args.frames)
                    t0 = time.perf_counter()
                    for i in range(n):
                        out = r.render(items, K, T[i])
                    t_render = (time.perf_counter() - t0) / n
                    backend = r.backend
                print(f"{w}x{h} [{backend}, samples={samples}] render {t_render * 1e3:.1f} ms/frame")
            t0 = time.perf_counter()
            for i in range(5):
                write_png(Path(tmp) / f"rgb{i}.png", out.rgba[:, :, :3], 1)
                write_png(Path(tmp) / f"d{i}.png", encode_depth(out.depth_m), 1)
            t_png = (time.perf_counter() - t0) / 5
            print(f"{w}x{h} PNG rgb+depth {t_png * 1e3:.1f} ms/frame")

        for w, h in ((640, 480), (320, 240)):
            dt = _time_generate(args.recipe, Path(tmp) / f"seq{w}", args.frames, w, h, args.backend)
            print(f"generate_sequence {args.frames} frames {w}x{h}: {dt:.1f} s total "
                  f"(textures cached) -> {args.frames / dt:.2f} frames/s")
        dt0 = _time_generate(args.recipe, Path(tmp) / "plain", 20, 640, 480, args.backend)
        dt3 = _time_generate(args.recipe, Path(tmp) / "blur", 20, 640, 480, args.backend, motion_blur=3)
        dta = _time_generate(args.recipe, Path(tmp) / "aa", 20, 640, 480, args.backend, antialias=True)
        print(f"motion blur x3 / plain (20 frames 640x480): {dt3 / dt0:.2f}x; antialias / plain: {dta / dt0:.2f}x")


if __name__ == "__main__":
    main()
