"""Image-target databases on disk: a folder of images to build from, and ``.npz`` save/load.

Folder layout for :func:`read_target_folder`::

    targets/
      poster.jpg
      cereal_box_0.19m.png        # width in the file name: _0.19m, _19cm or _190mm
      targets.yaml                # optional; overrides file-name widths

``targets.yaml`` maps a file name to its physical width in metres, or to a mapping with
``width_m`` and an optional ``name``::

    poster.jpg: 0.30
    logo.png: {width_m: 0.12, name: company_logo}

The ``.npz`` file holds the resampled target images, keypoints and descriptors (no pickles),
written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from arkit.core.errors import InputFileError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
FORMAT_VERSION = 1
_WIDTH_IN_NAME = re.compile(r"^(?P<name>.+?)[_@-](?P<value>\d+(?:\.\d+)?)(?P<unit>mm|cm|m)$")
_UNIT = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def parse_width_from_name(stem: str):
    """``"poster_0.3m"`` -> ``("poster", 0.3)``; ``"logo_12cm"`` -> ``("logo", 0.12)``; else None."""
    m = _WIDTH_IN_NAME.match(stem)
    if not m:
        return None
    return m.group("name"), float(m.group("value")) * _UNIT[m.group("unit")]


def read_target_folder(folder) -> list:
    """Read ``(name, image_rgb, width_m)`` entries from a folder (layout in the module doc).

    Raises
    ------
    InputFileError
        Missing folder, unreadable image, malformed ``targets.yaml``, or an image whose width
        is given neither in ``targets.yaml`` nor in its file name.
    """
    import cv2
    import yaml

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"image target folder {folder} does not exist")
    spec = {}
    yaml_path = folder / "targets.yaml"
    if yaml_path.exists():
        try:
            spec = yaml.safe_load(yaml_path.read_text()) or {}
        except yaml.YAMLError as e:
            raise InputFileError(f"{yaml_path} is not valid YAML: {e}") from None
        if not isinstance(spec, dict):
            raise InputFileError(f"{yaml_path} must map image file names to widths in metres")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputFileError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    unknown = set(spec) - {p.name for p in files}
    if unknown:
        raise InputFileError(f"{yaml_path} names files that are not in {folder}: {', '.join(sorted(unknown))}")
    entries = []
    for p in files:
        parsed = parse_width_from_name(p.stem)
        name, width = (parsed if parsed else (p.stem, None))
        item = spec.get(p.name)
        if isinstance(item, dict):
            name = str(item.get("name", name))
            width = item.get("width_m", width)
        elif item is not None:
            width = item
        if width is None:
            raise InputFileError(
                f"no physical width for {p}: add '{p.name}: WIDTH_M' to {yaml_path} or put the width "
                f"in the file name (e.g. {p.stem}_0.20m{p.suffix})"
            )
        try:
            width = float(width)
        except (TypeError, ValueError):
            raise InputFileError(f"{yaml_path}: width of {p.name} must be a number in metres, got {width!r}") from None
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputFileError(f"cannot read image {p}")
        entries.append((name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width))
    return entries


def save_database(db, path) -> Path:
    """Write an :class:`~arkit.recognition.image_targets.ImageTargetDatabase` to ``.npz`` atomically."""
    from arkit.io.atomic import atomic_write_path

    path = Path(path)
    meta = {
        "format": "arkit-image-targets", "version": FORMAT_VERSION, "feature_type": db.feature_type,
        "target_size_px": db.target_size_px, "frame_features": db.frame_features, "index": db.index_kind,
        "targets": [{"name": t.name, "width_m": t.width_m} for t in db.targets],
    }
    arrays = {"meta_json": np.array(json.dumps(meta))}
    for i, t in enumerate(db.targets):
        arrays[f"t{i}_gray"] = t.gray
        arrays[f"t{i}_points_px"] = t.points_px
        arrays[f"t{i}_descriptors"] = t.descriptors
    with atomic_write_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    log.info("saved %d image targets to %s", len(db.targets), path)
    return path


def load_database(path):
    """Read a database written by :func:`save_database` (rebuilds the descriptor index)."""
    from arkit.recognition.image_targets import ImageTarget, ImageTargetDatabase

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"image target database {path} does not exist; build one with 'arkit targets build DIR -o {path.name}'")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta_json"]))
            if meta.get("format") != "arkit-image-targets":
                raise InputFileError(f"{path} is not an arkit image target database")
            if int(meta.get("version", 0)) > FORMAT_VERSION:
                raise InputFileError(f"{path} has format version {meta['version']}; this arkit reads up to {FORMAT_VERSION}")
            targets = [
                ImageTarget(m["name"], float(m["width_m"]), z[f"t{i}_gray"], z[f"t{i}_points_px"], z[f"t{i}_descriptors"])
                for i, m in enumerate(meta["targets"])
            ]
    except InputFileError:
        raise
    except Exception as e:  # zip/npz/json/key errors
        raise InputFileError(f"cannot read image target database {path}: {e}") from None
    return ImageTargetDatabase(targets, meta["feature_type"], meta["target_size_px"], meta["frame_features"], meta["index"])
