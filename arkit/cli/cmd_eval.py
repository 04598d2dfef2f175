"""``arkit eval ...``: accuracy figures. ``arkit eval trajectory EST GT`` prints ATE and RPE.

The sub-command only adapts arguments to :mod:`arkit.eval.trajectory`; the definitions
(association, alignment, error measures) are documented there.
"""

from __future__ import annotations

import argparse
import json

from arkit.io.trajectory_formats import FORMATS


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate arkit outputs against ground truth",
                              description="Evaluate arkit outputs against ground truth.")
    sub = p.add_subparsers(dest="eval_command", metavar="WHAT")
    sub.required = True

    t = sub.add_parser(
        "trajectory", help="ATE and RPE of an estimated trajectory against ground truth",
        description="Absolute trajectory error (after alignment) and relative pose error, with the "
                    "definitions of evo_ape (translation_part) and evo_rpe.",
    )
    t.add_argument("est", metavar="EST", help="estimated trajectory file")
    t.add_argument("gt", metavar="GT", help="ground-truth trajectory file")
    t.add_argument("--est-format", choices=FORMATS, default=None, help="format of EST (default: detected)")
    t.add_argument("--gt-format", choices=FORMATS, default=None, help="format of GT (default: detected)")
    t.add_argument("--est-times", default=None, metavar="FILE", help="times.txt for a KITTI EST file")
    t.add_argument("--gt-times", default=None, metavar="FILE", help="times.txt for a KITTI GT file")
    t.add_argument("--align", choices=("se3", "sim3", "none", "origin"), default="se3",
                   help="alignment of EST onto GT before ATE and RPE (default se3; sim3 for monocular)")
    t.add_argument("--max-diff", type=float, default=0.02, metavar="S",
                   help="largest timestamp difference for associating poses, seconds (default 0.02)")
    t.add_argument("--offset", type=float, default=0.0, metavar="S",
                   help="time offset added to EST stamps before association, seconds")
    t.add_argument("--association", choices=("one-to-one", "nearest"), default="one-to-one",
                   help="one-to-one (TUM associate.py, default) or nearest per pose (evo)")
    t.add_argument("--rpe-delta", type=float, default=1.0, help="RPE pose distance (default 1)")
    t.add_argument("--rpe-unit", choices=("frames", "m", "s"), default="frames", help="unit of --rpe-delta")
    t.add_argument("--rpe-all-pairs", action="store_true", help="RPE over all pairs, not consecutive ones")
    t.add_argument("--json", default=None, metavar="OUT", help="also write the figures as JSON")
    t.set_defaults(func=run_trajectory)


def run_trajectory(args: argparse.Namespace) -> int:
    from arkit.eval.trajectory import ate, rpe
    from arkit.io.trajectory_formats import read_trajectory

    est = read_trajectory(args.est, args.est_format, args.est_times)
    gt = read_trajectory(args.gt, args.gt_format, args.gt_times)
    common = dict(max_diff_s=args.max_diff, offset_s=args.offset, one_to_one=(args.association == "one-to-one"))
    a = ate(est, gt, align=args.align, **common)
    r = rpe(est, gt, delta=args.rpe_delta, delta_unit=args.rpe_unit, align=args.align,
            all_pairs=args.rpe_all_pairs, **common)

    print(f"estimate:     {args.est} ({len(est)} poses)")
    print(f"ground truth: {args.gt} ({len(gt)} poses)")
    print(f"associated:   {a.num_pairs} pairs (max diff {args.max_diff} s), alignment {a.align}, scale {a.scale:.6f}")
    print()
    rows = [
        ("ATE (m)", a.rmse_m, a.mean_m, a.median_m, a.std_m, a.max_m, a.num_pairs),
        (f"RPE trans (m) / {r.delta:g} {r.delta_unit}", r.trans_rmse_m, r.trans_mean_m, r.trans_median_m,
         r.trans_std_m, r.trans_max_m, r.num_pairs),
        (f"RPE rot (deg) / {r.delta:g} {r.delta_unit}", r.rot_rmse_deg, r.rot_mean_deg, r.rot_median_deg,
         r.rot_std_deg, r.rot_max_deg, r.num_pairs),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'metric':<{width}}  {'rmse':>10} {'mean':>10} {'median':>10} {'std':>10} {'max':>10} {'pairs':>7}")
    for name, *vals, n in rows:
        print(f"{name:<{width}}  " + " ".join(f"{v:10.6f}" for v in vals) + f" {n:7d}")

    if args.json:
        from arkit.io.atomic import atomic_write_text

        doc = {"est": str(args.est), "gt": str(args.gt), "ate": a.to_dict(), "rpe": r.to_dict()}
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0
