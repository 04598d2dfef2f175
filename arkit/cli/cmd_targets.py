"""``arkit targets build DIR -o targets.npz`` and ``arkit targets info FILE``."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("targets", help="image-target databases (build, info)")
    sub = p.add_subparsers(dest="targets_command", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="build a database from a folder of images (+ targets.yaml widths)")
    b.add_argument("folder", help="folder of target images; widths in targets.yaml or in file names (_0.2m)")
    b.add_argument("-o", "--output", default="targets.npz", help="database file to write (.npz)")
    b.add_argument("--features", default="orb", choices=("orb", "sift", "akaze"), help="feature type (default orb)")
    b.add_argument("--size", type=int, default=480, help="longer side of the resampled targets in px")
    b.set_defaults(func=_build)
    i = sub.add_parser("info", help="list the targets in a database")
    i.add_argument("database")
    i.set_defaults(func=_info)


def _build(args) -> int:
    from arkit.recognition.image_targets import ImageTargetDatabase

    db = ImageTargetDatabase.from_folder(args.folder, feature_type=args.features, target_size_px=args.size)
    path = db.save(args.output)
    print(f"wrote {len(db)} image targets ({db.feature_type}) to {path}")
    _print_targets(db)
    return 0


def _info(args) -> int:
    from arkit.recognition.image_targets import ImageTargetDatabase

    db = ImageTargetDatabase.load(args.database)
    print(f"{args.database}: {len(db)} image targets, features {db.feature_type}")
    _print_targets(db)
    return 0


def _print_targets(db) -> None:
    for t in db.targets:
        w, h = t.size_px
        print(f"  {t.name}: {t.width_m:.3f} x {t.height_m:.3f} m, {len(t.points_px)} features ({w}x{h} px)")
