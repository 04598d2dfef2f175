"""Model files for the MediaPipe Tasks wrappers: registry, cache, download and wheel import.

Models live in a cache folder, ``$ARKIT_MODELS_DIR`` or ``~/.cache/arkit/models``, each under
its registry file name. :func:`model_path` never downloads: when a file is missing it raises
:class:`MissingModelError` saying where to put it and which command fetches it.

Two ways to fill the cache:

* ``arkit models fetch NAME`` (:func:`fetch`): downloads the official file from
  ``storage.googleapis.com/mediapipe-models`` with a progress bar, verifies the sha256 when the
  registry knows it, and renames it into place atomically.
* ``arkit models import-wheel [WHEEL]`` (:func:`import_from_wheel`): works offline from PyPI
  alone. The legacy ``mediapipe==0.10.21`` wheel ships BlazeFace and selfie-segmentation
  ``.tflite`` files that mediapipe 1.x's Tasks API loads (``FaceDetector``, ``ImageSegmenter``).
  They are copied under the registry names and their origin is written to ``sources.json``.
  The hand, full pose and a reduced face landmarker ``.task`` bundle are packed from the
  wheel's models (:mod:`arkit.recognition.model_bundles`).

>>> [s.name for s in list_models()][:2]
['face_detector', 'face_detector_full_range']
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from arkit.core.errors import ArkitError, InputFileError

log = logging.getLogger(__name__)

_BASE = "https://storage.googleapis.com/mediapipe-models"
LEGACY_WHEEL = "mediapipe==0.10.21"


class MissingModelError(ArkitError):
    """A model file is not in the local cache (arkit never downloads at run time)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model file.

    Parameters
    ----------
    name : str
        Registry name (``arkit models path NAME``).
    filename : str
        File name in the cache folder.
    task : str
        MediaPipe Tasks class that loads it (``"FaceDetector"``, ``"ImageSegmenter"``, ...).
    url : str or None
        Official download URL (None for models that only come from the legacy wheel).
    sha256 : str or None
        Checksum of the official download, when known.
    wheel_member : str or None
        Path of an equivalent file inside the ``mediapipe==0.10.21`` wheel.
    wheel_sha256 : str or None
        Checksum of that wheel file (measured from mediapipe-0.10.21 cp311 manylinux wheel).
    wheel_bundle : bool
        The ``.task`` bundle can be packed from the wheel's models
        (:mod:`arkit.recognition.model_bundles`).
    """

    name: str
    filename: str
    task: str
    url: Optional[str]
    description: str
    sha256: Optional[str] = None
    wheel_member: Optional[str] = None
    wheel_sha256: Optional[str] = None
    wheel_bundle: bool = False

    @property
    def from_wheel(self) -> bool:
        """Whether ``arkit models import-wheel`` provides this model."""
        return bool(self.wheel_member or self.wheel_bundle)


REGISTRY = {
    s.name: s
    for s in (
        ModelSpec("face_detector", "blaze_face_short_range.tflite", "FaceDetector",
                  f"{_BASE}/face_detector/blaze_face_short_range/float16/1/blaze_face_short_range.tflite",
                  "BlazeFace short range: faces within ~2 m, box + 6 keypoints",
                  wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
                  wheel_sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
        ModelSpec("face_detector_full_range", "face_detection_full_range_sparse.tflite", "FaceDetector", None,
                  "BlazeFace full range (sparse), legacy wheel only",
                  wheel_member="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
                  wheel_sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
        ModelSpec("face_landmarker", "face_landmarker.task", "FaceLandmarker",
                  f"{_BASE}/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
                  "478 face landmarks + blendshapes (task bundle)"),
        ModelSpec("face_landmarker_legacy", "face_landmarker_legacy.task", "FaceLandmarker", None,
                  "468-point face mesh packed from the legacy wheel (no blendshapes, matrix or iris)",
                  wheel_bundle=True),
        ModelSpec("hand_landmarker", "hand_landmarker.task", "HandLandmarker",
                  f"{_BASE}/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
                  "21 hand landmarks per hand (task bundle)", wheel_bundle=True),
        ModelSpec("pose_landmarker", "pose_landmarker_lite.task", "PoseLandmarker",
                  f"{_BASE}/pose_landmarker/pose_landmarker_lite/float16/1/pose_landmarker_lite.task",
                  "33 body landmarks, lite (task bundle)"),
        ModelSpec("pose_landmarker_full", "pose_landmarker_full.task", "PoseLandmarker",
                  f"{_BASE}/pose_landmarker/pose_landmarker_full/float16/1/pose_landmarker_full.task",
                  "33 body landmarks, full (task bundle)", wheel_bundle=True),
        ModelSpec("selfie_segmenter", "selfie_segmenter.tflite", "ImageSegmenter",
                  f"{_BASE}/image_segmenter/selfie_segmenter/float16/latest/selfie_segmenter.tflite",
                  "person vs background mask",
                  wheel_member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
                  wheel_sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"),
        ModelSpec("selfie_segmenter_landscape", "selfie_segmentation_landscape.tflite", "ImageSegmenter", None,
                  "person vs background mask, landscape input, legacy wheel only",
                  wheel_member="mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
                  wheel_sha256="a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"),
        ModelSpec("object_detector", "efficientdet_lite0.tflite", "ObjectDetector",
                  f"{_BASE}/object_detector/efficientdet_lite0/float16/1/efficientdet_lite0.tflite",
                  "EfficientDet-Lite0, 80 COCO classes (optional)"),
    )
}


def list_models() -> list:
    """All registry entries, sorted by name."""
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def spec(name: str) -> ModelSpec:
    """The registry entry for ``name`` (raises :class:`ArkitError` naming the known models)."""
    if name not in REGISTRY:
        raise ArkitError(f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def cache_dir() -> Path:
    """``$ARKIT_MODELS_DIR`` or ``~/.cache/arkit/models`` (not created here)."""
    env = os.environ.get("ARKIT_MODELS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "arkit" / "models"


def cached_path(name: str) -> Path:
    """Where the model file belongs in the cache (whether or not it is there)."""
    return cache_dir() / spec(name).filename


def model_path(name: str) -> Path:
    """Path of a cached model file; never downloads.

    Raises
    ------
    MissingModelError
        Naming the model, its URL, the exact cache path and the commands that provide it.
    """
    s = spec(name)
    p = cached_path(name)
    if p.is_file() and p.stat().st_size > 0:
        return p
    how = [f"run 'arkit models fetch {name}'"] if s.url else []
    if s.from_wheel:
        how.append(f"run 'arkit models import-wheel' (offline from PyPI: {LEGACY_WHEEL})")
    src = f" from {s.url}" if s.url else ""
    raise MissingModelError(
        f"model {name!r} ({s.filename}) is not in the cache: {' or '.join(how)}, or download it{src} "
        f"yourself and save it as {p} (set ARKIT_MODELS_DIR to use another folder)"
    )


def is_available(name: str) -> bool:
    try:
        model_path(name)
        return True
    except MissingModelError:
        return False


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sources() -> dict:
    """Contents of ``sources.json``: model name -> where its cached file came from."""
    p = cache_dir() / "sources.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", p)
        return {}


def _record_source(name: str, origin: str, digest: str) -> None:
    from arkit.io.atomic import atomic_write_text

    data = sources()
    data[name] = {"file": spec(name).filename, "origin": origin, "sha256": digest}
    atomic_write_text(cache_dir() / "sources.json", json.dumps(data, indent=2, sort_keys=True))


def fetch(name: str, force: bool = False, progress: bool = True) -> Path:
    """Download a model into the cache (checksum verified when known, atomic rename).

    Raises
    ------
    MissingModelError
        When the model has no download URL or the download fails (e.g. offline).
    """
    import urllib.error
    import urllib.request

    from arkit.io.atomic import atomic_write_path

    s = spec(name)
    final = cached_path(name)
    if final.is_file() and not force:
        return final
    if not s.url:
        raise MissingModelError(f"model {name!r} has no download URL; run 'arkit models import-wheel' instead")
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write_path(final) as tmp:
            with urllib.request.urlopen(s.url, timeout=30) as resp, open(tmp, "wb") as fh:
                total = int(resp.headers.get("Content-Length") or 0) or None
                bar = None
                if progress:
                    from tqdm import tqdm

                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=s.filename)
                h = hashlib.sha256()
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    fh.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                if bar is not None:
                    bar.close()
            digest = h.hexdigest()
            if s.sha256 and digest != s.sha256:
                raise MissingModelError(f"download of {s.url} has sha256 {digest}, expected {s.sha256}; try again")
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise MissingModelError(
            f"cannot download model {name!r} from {s.url}: {e}. Without internet, run 'arkit models "
            f"import-wheel' (if available for this model) or copy the file to {final}"
        ) from None
    _record_source(name, s.url, digest)
    log.info("fetched %s -> %s", s.url, final)
    return final


def download_legacy_wheel(dest_dir) -> Path:
    """``pip download mediapipe==0.10.21 --no-deps`` into ``dest_dir``; returns the wheel path."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "pip", "download", LEGACY_WHEEL, "--no-deps", "--only-binary=:all:",
           "-d", str(dest_dir), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(Path(dest_dir).glob("mediapipe-0.10.21-*.whl"))
    if r.returncode != 0 or not wheels:
        raise MissingModelError(f"'{' '.join(cmd)}' failed: {r.stderr.strip()[-400:]}")
    return wheels[0]


def import_from_wheel(wheel=None, names=None) -> dict:
    """Copy the legacy wheel's ``.tflite`` files into the cache under their registry names.

    Parameters
    ----------
    wheel : path, optional
        A ``mediapipe-0.10.21-*.whl``; downloaded with pip into a temporary folder when omitted.
    names : list of str, optional
        Registry names to import (default: every entry with a ``wheel_member``).

    Returns
    -------
    dict
        name -> cached path of every imported model.
    """
    from arkit.io.atomic import atomic_write_bytes

    wanted = [spec(n) for n in names] if names else [s for s in list_models() if s.from_wheel]
    with tempfile.TemporaryDirectory(prefix="arkit_mp_wheel_") as tmp:
        wheel_path = Path(wheel) if wheel else download_legacy_wheel(tmp)
        if not wheel_path.is_file():
            raise InputFileError(f"wheel {wheel_path} does not exist")
        try:
            zf = zipfile.ZipFile(wheel_path)
        except zipfile.BadZipFile:
            raise InputFileError(f"{wheel_path} is not a wheel (zip) file") from None
        out = {}
        with zf:
            members = set(zf.namelist())
            cache_dir().mkdir(parents=True, exist_ok=True)
            for s in wanted:
                if not s.from_wheel:
                    raise ArkitError(f"model {s.name!r} is not in the {LEGACY_WHEEL} wheel")
                if s.wheel_bundle:
                    from arkit.recognition.model_bundles import pack_from_wheel

                    try:
                        data = pack_from_wheel(s.name, zf)
                    except Exception as e:  # noqa: BLE001 - missing member, or a model flatbuffers cannot parse
                        log.warning("cannot pack %s from %s: %s", s.name, wheel_path.name, e)
                        continue
                    digest = hashlib.sha256(data).hexdigest()
                    out[s.name] = atomic_write_bytes(cached_path(s.name), data)
                    _record_source(s.name, f"{wheel_path.name}: packed by arkit.recognition.model_bundles", digest)
                    continue
                if s.wheel_member not in members:
                    log.warning("%s has no %s", wheel_path.name, s.wheel_member)
                    continue
                data = zf.read(s.wheel_member)
                digest = hashlib.sha256(data).hexdigest()
                if s.wheel_sha256 and digest != s.wheel_sha256:
                    log.warning("%s in %s has sha256 %s (registry knows %s)", s.wheel_member, wheel_path.name,
                                digest, s.wheel_sha256)
                out[s.name] = atomic_write_bytes(cached_path(s.name), data)
                _record_source(s.name, f"{wheel_path.name}:{s.wheel_member}", digest)
    return out
