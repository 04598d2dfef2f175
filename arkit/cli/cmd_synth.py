"""``arkit synth RECIPE OUT_DIR``: render a synthetic RGB-D sequence (TUM layout) from a recipe.

Only adapts arguments to :func:`arkit.synthetic.generator.generate_sequence`.
"""

from __future__ import annotations

import argparse
import re
import time

from arkit.core.errors import ArkitError


def _size(text: str) -> tuple:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth", help="render a synthetic RGB-D sequence with ground truth from a recipe",
        description="Render a synthetic RGB-D sequence (TUM layout: rgb/, depth/, rgb.txt, depth.txt, "
                    "groundtruth.txt, intrinsics.yaml, scene.json) from a built-in recipe name or a "
                    "recipe YAML file. Use --list to see the built-in recipes.")
    p.add_argument("recipe", metavar="RECIPE", nargs="?", help="built-in recipe name or path to a recipe .yaml")
    p.add_argument("out_dir", metavar="OUT_DIR", nargs="?", help="folder to create")
    p.add_argument("--frames", type=int, default=300, help="number of frames at 30 Hz (default 300)")
    p.add_argument("--size", type=_size, default=(640, 480), help="image size WxH (default 640x480)")
    p.add_argument("--hfov", type=float, default=60.0, help="horizontal field of view, degrees (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the camera path and exposure (default 0)")
    p.add_argument("--motion-blur", type=int, default=0, metavar="K", help="average K sub-frames per frame")
    p.add_argument("--exposure-jitter", type=float, default=0.0, metavar="S",
                   help="std of log exposure gain changes (default 0 = none)")
    p.add_argument("--noise", type=float, default=0.0, metavar="S",
                   help="additive Gaussian sensor noise, std in 8-bit grey levels (default 0)")
    p.add_argument("--backend", choices=("auto", "gl", "software"), default="auto", help="renderer backend")
    p.add_argument("--texture-res", type=float, default=None, metavar="PX_PER_M",
                   help="texture resolution override in pixels per metre (lower is faster; recipe default 512)")
    p.add_argument("--antialias", action="store_true",
                   help="4x multisampled colour (smoother polygon edges, about twice the render time)")
    p.add_argument("--plane-ids", action="store_true", help="also write planes/<t>.png surface-id images")
    p.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    p.add_argument("--list", action="store_true", help="list the built-in recipes and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arkit.synthetic.recipes import list_recipes, load_recipe

    if args.list:
        for name in list_recipes():
            print(f"{name:16s} {load_recipe(name).description}")
        return 0
    if not args.recipe or not args.out_dir:
        raise ArkitError("arkit synth needs RECIPE and OUT_DIR (or --list); e.g. arkit synth marker_room /tmp/seq")
    from tqdm import tqdm

    from arkit.synthetic.generator import generate_sequence

    w, h = args.size
    bar = tqdm(total=args.frames, unit="frame", desc=f"synth {args.recipe}", dynamic_ncols=True)
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)
        bar.set_postfix(fps=f"{done / max(time.perf_counter() - t0, 1e-9):.1f}")

    try:
        out = generate_sequence(args.recipe, args.out_dir, num_frames=args.frames, width=w, height=h,
                                hfov_deg=args.hfov, seed=args.seed, backend=args.backend,
                                motion_blur=args.motion_blur, exposure_jitter=args.exposure_jitter,
                                overwrite=args.overwrite, plane_ids=args.plane_ids,
                                texture_px_per_m=args.texture_res, antialias=args.antialias,
                                noise_std=args.noise, progress=progress)
    finally:
        bar.close()
    dt = time.perf_counter() - t0
    print(f"wrote {args.frames} frames ({w}x{h}) to {out} in {dt:.1f} s ({args.frames / max(dt, 1e-9):.2f} frames/s)")
    return 0
