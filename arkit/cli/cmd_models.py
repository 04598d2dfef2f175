"""``arkit models list | fetch NAME | path NAME | import-wheel [WHEEL]``: MediaPipe model files."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="MediaPipe model files (list, fetch, path, import-wheel)")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="list known models and whether they are cached").set_defaults(func=_list)
    f = sub.add_parser("fetch", help="download a model into the cache")
    f.add_argument("name")
    f.add_argument("--force", action="store_true", help="download again even if cached")
    f.set_defaults(func=_fetch)
    q = sub.add_parser("path", help="print the cached path of a model (error if missing)")
    q.add_argument("name")
    q.set_defaults(func=_path)
    w = sub.add_parser("import-wheel", help="offline: copy the models shipped in the mediapipe==0.10.21 wheel")
    w.add_argument("wheel", nargs="?", help="a mediapipe-0.10.21 wheel (default: pip download it)")
    w.set_defaults(func=_import_wheel)


def _list(args) -> int:
    from arkit.recognition import models

    src = models.sources()
    print(f"cache: {models.cache_dir()}")
    for s in models.list_models():
        state = "cached" if models.is_available(s.name) else "missing"
        origin = src.get(s.name, {}).get("origin", "")
        extra = f"  (from {origin})" if origin and state == "cached" else ""
        print(f"  {s.name:28s} {state:8s} {s.task:15s} {s.description}{extra}")
    return 0


def _fetch(args) -> int:
    from arkit.recognition import models

    print(models.fetch(args.name, force=args.force))
    return 0


def _path(args) -> int:
    from arkit.recognition import models

    print(models.model_path(args.name))
    return 0


def _import_wheel(args) -> int:
    from arkit.recognition import models

    done = models.import_from_wheel(args.wheel)
    for name, path in done.items():
        print(f"{name}: {path}")
    return 0
