"""Read and write camera intrinsics files.

Recognised formats (chosen from the content, not only the extension):

* arkit's own YAML/JSON: exactly :meth:`arkit.core.camera.Intrinsics.to_dict`
  (``width, height, fx, fy, cx, cy, dist, model``).
* OpenCV ``cv2.FileStorage`` files (``%YAML:1.0`` or XML) as written by OpenCV's calibration
  samples: ``camera_matrix`` / ``cameraMatrix`` / ``K`` / ``M1`` with ``distortion_coefficients`` /
  ``distCoeffs`` / ``D`` / ``D1`` and ``image_width`` / ``image_height`` (or ``imageSize``).
* A plain camera-matrix YAML/JSON: ``K`` (3x3 nested or 9 numbers row-major) or ``camera_matrix``
  (also ROS ``camera_info`` YAML with ``{rows, cols, data}``), ``dist``/``D`` optional, and
  ``width``/``height`` (or ``image_width``/``image_height``); Open3D's
  ``PinholeCameraIntrinsic`` JSON (``intrinsic_matrix`` column-major); EuRoC / Kalibr
  ``sensor.yaml`` (``intrinsics: [fu, fv, cu, cv]``, ``resolution: [w, h]``).
* A bare 3x3 matrix as text (9 numbers, whitespace or commas): 7-Scenes
  ``camera-intrinsics.txt``, Stray Scanner ``camera_matrix.csv``.

Files that do not store the image size (e.g. OpenCV stereo ``intrinsics.yml``) need
``width`` and ``height`` passed explicitly.

>>> K = load_intrinsics("calib.yml")                       # doctest: +SKIP
>>> K = load_intrinsics("intrinsics.yml", 640, 480)         # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from arkit.core.camera import FISHEYE, PINHOLE, Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

_K_KEYS = ("camera_matrix", "cameraMatrix", "CameraMatrix", "Camera_Matrix", "K", "k", "M", "M1",
           "intrinsic_matrix", "intrinsicMatrix", "mtx", "camera_matrix_left")
_DIST_KEYS = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "DistCoeffs",
              "Distortion_Coefficients", "dist", "D", "d", "D1", "distortion", "dist_coeff")
_W_KEYS = ("width", "image_width", "imageWidth", "Image_Width", "img_width", "w")
_H_KEYS = ("height", "image_height", "imageHeight", "Image_Height", "img_height", "h")
_SIZE_KEYS = ("imageSize", "image_size", "resolution", "size")
_MODEL_KEYS = ("model", "distortion_model", "camera_model", "distortionModel")

_FISHEYE_NAMES = {"fisheye", "equidistant", "kannala_brandt", "kannala-brandt", "kb4", "equi"}
_PINHOLE_NAMES = {"pinhole", "plumb_bob", "radtan", "radial-tangential", "radial_tangential",
                  "rational_polynomial", "opencv", "brown", ""}


class IntrinsicsFileError(IntrinsicsError, InputFileError):
    """An intrinsics file is malformed (catchable as IntrinsicsError or InputFileError)."""


# -- public API ------------------------------------------------------------------------------------
def load_intrinsics(path: PathLike, width: Optional[int] = None, height: Optional[int] = None) -> Intrinsics:
    """Load intrinsics from an arkit, OpenCV, plain-K, Open3D or EuRoC calibration file.

    Parameters
    ----------
    path : str or Path
        The calibration file (``.yaml``, ``.yml``, ``.json`` or OpenCV ``.xml``).
    width, height : int, optional
        Image size in pixels. Needed when the file does not store it; when the file does store
        it, a different value raises :class:`IntrinsicsError` (use ``Intrinsics.scaled``).

    Returns
    -------
    Intrinsics

    Raises
    ------
    InputFileError
        The file is missing or cannot be parsed.
    IntrinsicsError
        A field is missing or invalid (non-positive focal length, bad distortion, no image
        size, ...). The message names the file and the field. Errors about a file's content
        are :class:`IntrinsicsFileError`, a subclass of both.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"intrinsics file {p} does not exist; check the path")
    if not p.is_file():
        raise InputFileError(f"intrinsics path {p} is not a file")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InputFileError(f"cannot read intrinsics file {p}: {e}") from None
    head = raw[:64].lstrip()
    if head.startswith(b"%YAML") or head.startswith(b"<?xml") or head.startswith(b"<opencv_storage"):
        data = _read_filestorage(p)
    else:
        matrix = _read_plain_matrix(raw)
        data = {"K": matrix} if matrix is not None else _read_yaml_or_json(p, raw)
    return intrinsics_from_mapping(data, width=width, height=height, source=str(p))


def save_intrinsics(intrinsics: Intrinsics, path: PathLike, opencv: bool = False) -> Path:
    """Write intrinsics atomically in arkit's format (or OpenCV ``FileStorage`` format).

    Parameters
    ----------
    intrinsics : Intrinsics
    path : str or Path
        ``.json`` writes JSON, anything else YAML (``Intrinsics.to_dict()``).
    opencv : bool
        Write an OpenCV calibration file (``camera_matrix``, ``distortion_coefficients``,
        ``image_width``, ``image_height``) with ``cv2.FileStorage`` instead; use a ``.yml``,
        ``.yaml`` or ``.xml`` suffix.

    Returns
    -------
    Path
        The written file; :func:`load_intrinsics` reads it back exactly.
    """
    from arkit.io.atomic import atomic_write_path, atomic_write_text

    if not isinstance(intrinsics, Intrinsics):
        raise IntrinsicsError(f"save_intrinsics needs an arkit Intrinsics, got {type(intrinsics).__name__}")
    p = Path(path)
    if opencv:
        import cv2

        with atomic_write_path(p) as tmp:
            fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE)
            if not fs.isOpened():
                raise InputFileError(f"cannot write OpenCV calibration file {p}; use a .yml or .xml suffix")
            fs.write("image_width", int(intrinsics.width))
            fs.write("image_height", int(intrinsics.height))
            fs.write("camera_matrix", intrinsics.K)
            fs.write("distortion_coefficients", np.asarray(intrinsics.dist, np.float64).reshape(1, -1)
                     if intrinsics.dist else np.zeros((1, 0)))
            fs.write("distortion_model", intrinsics.model)
            fs.release()
        return p
    d = intrinsics.to_dict()
    if p.suffix.lower() == ".json":
        text = json.dumps(d, indent=2) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(d, sort_keys=False)
    return atomic_write_text(p, text)


def resolve_intrinsics(intrinsics, width: Optional[int] = None, height: Optional[int] = None,
                       what: str = "source") -> Optional[Intrinsics]:
    """Turn an ``Intrinsics``, a file path or None into ``Intrinsics`` (or None).

    Used by every frame source. When ``width``/``height`` are given the result must match
    them, else :class:`IntrinsicsError` names both sizes.
    """
    if intrinsics is None:
        return None
    if isinstance(intrinsics, Intrinsics):
        K = intrinsics
        label = "the given intrinsics"
    elif isinstance(intrinsics, (str, os.PathLike)):
        K = load_intrinsics(intrinsics, width=width, height=height)
        label = f"intrinsics file {intrinsics}"
    elif isinstance(intrinsics, dict):
        K = intrinsics_from_mapping(intrinsics, width, height, source="intrinsics dict")
        label = "the given intrinsics dict"
    else:
        raise IntrinsicsError(
            f"intrinsics must be an arkit.Intrinsics, a file path or None, got {type(intrinsics).__name__}")
    if width is not None and height is not None and (K.width, K.height) != (int(width), int(height)):
        raise IntrinsicsError(
            f"{label} are for {K.width}x{K.height} images but the {what} is {int(width)}x{int(height)}; "
            f"pass intrinsics calibrated at {int(width)}x{int(height)} or rescale them with "
            f"Intrinsics.scaled({int(width)}, {int(height)})")
    return K


# -- parsing ---------------------------------------------------------------------------------------
def _read_plain_matrix(raw: bytes) -> Optional[np.ndarray]:
    """A bare 3x3 camera matrix (9 numbers, whitespace or comma separated, ``#`` comments), else None.

    This is how 7-Scenes (``camera-intrinsics.txt``) and Stray Scanner (``camera_matrix.csv``)
    store intrinsics; such files carry no image size.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    tokens = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].replace(",", " ").strip()
        tokens += line.split()
    if len(tokens) != 9:
        return None
    try:
        return np.array([float(t) for t in tokens]).reshape(3, 3)
    except ValueError:
        return None


def _read_yaml_or_json(p: Path, raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(f"intrinsics file {p} is not a text file (YAML/JSON expected)") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFileError(f"intrinsics file {p} is not valid JSON: {e}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputFileError(f"intrinsics file {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise IntrinsicsFileError(
            f"intrinsics file {p} must hold a mapping (fx, fy, cx, cy, width, height or K), "
            f"got {type(data).__name__}")
    return data


def _read_filestorage(p: Path) -> dict:
    import cv2

    try:
        fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as e:  # the Python binding wraps parse errors in SystemError
        raise InputFileError(f"OpenCV cannot parse the calibration file {p}: {str(e).strip()}") from None
    if not fs.isOpened():
        raise InputFileError(f"OpenCV cannot open the calibration file {p}")
    try:
        out: dict[str, Any] = {}
        root = fs.root()
        for key in root.keys():
            node = root.getNode(key)
            if node.isMap():
                m = node.mat()
                if m is not None:
                    out[key] = np.asarray(m, dtype=np.float64)
                elif not node.getNode("data").empty():  # a plain {rows, cols, data} map
                    out[key] = {"data": _seq_to_list(node.getNode("data"))}
            elif node.isSeq():
                out[key] = _seq_to_list(node)
            elif node.isInt() or node.isReal():
                out[key] = node.real()
            elif node.isString():
                out[key] = node.string()
        return out
    except (cv2.error, SystemError) as e:
        raise InputFileError(f"OpenCV cannot parse the calibration file {p}: {str(e).strip()}") from None
    finally:
        fs.release()


def _seq_to_list(node) -> list:
    items = []
    for i in range(node.size()):
        n = node.at(i)
        if n.isInt() or n.isReal():
            items.append(n.real())
        elif n.isString():
            items.append(n.string())
        elif n.isSeq():
            items.append(_seq_to_list(n))
    return items


def _first(d: dict, keys) -> tuple:
    for k in keys:
        if k in d and d[k] is not None:
            return k, d[k]
    return None, None


def _numbers(value, field: str, source: str) -> np.ndarray:
    if isinstance(value, dict):  # ROS camera_info / OpenCV-like {rows, cols, data}
        if "data" not in value:
            raise IntrinsicsFileError(f"{source}: field '{field}' is a mapping without 'data'")
        value = value["data"]
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise IntrinsicsFileError(f"{source}: field '{field}' must contain numbers, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise IntrinsicsFileError(f"{source}: field '{field}' contains NaN or infinite values")
    return arr


def _positive_int(value, field: str, source: str) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise IntrinsicsFileError(f"{source}: field '{field}' must be a positive integer, got {value!r}") from None
    if not (f > 0 and f == int(f)):
        raise IntrinsicsFileError(f"{source}: field '{field}' must be a positive integer, got {value!r}")
    return int(f)


def _model(d: dict, source: str) -> str:
    _, m = _first(d, _MODEL_KEYS)
    if m is None:
        return PINHOLE
    name = str(m).strip().lower()
    if name in _FISHEYE_NAMES:
        return FISHEYE
    if name in _PINHOLE_NAMES:
        return PINHOLE
    raise IntrinsicsFileError(
        f"{source}: unsupported camera/distortion model '{m}' (supported: pinhole / radial-tangential, "
        f"fisheye / equidistant)")


def _dist(d: dict, source: str) -> tuple:
    key, value = _first(d, _DIST_KEYS)
    if value is None:
        return ()
    dist = _numbers(value, key, source).ravel()
    if dist.size in (12, 14) and not np.any(dist[8:]):
        dist = dist[:8]  # thin-prism / tilt terms unused
    return tuple(dist.tolist())


def _size(d: dict, width, height, source: str) -> tuple:
    kw, w = _first(d, _W_KEYS)
    kh, h = _first(d, _H_KEYS)
    if w is None or h is None:
        ks, s = _first(d, _SIZE_KEYS)
        if s is not None:
            arr = _numbers(s, ks, source).ravel()
            if arr.size != 2:
                raise IntrinsicsFileError(f"{source}: field '{ks}' must be [width, height], got {s!r}")
            kw, w, kh, h = ks, arr[0], ks, arr[1]
    if w is not None and h is not None:
        fw, fh = _positive_int(w, kw, source), _positive_int(h, kh, source)
        if width is not None and height is not None and (int(width), int(height)) != (fw, fh):
            raise IntrinsicsFileError(
                f"{source}: the file is calibrated for {fw}x{fh} images but {int(width)}x{int(height)} was "
                f"requested; use load_intrinsics(...).scaled({int(width)}, {int(height)}) if the camera is the same")
        return fw, fh
    if width is None or height is None:
        raise IntrinsicsFileError(
            f"{source}: the file does not store the image size (no width/height or image_width/"
            f"image_height); pass it, e.g. load_intrinsics(path, width=640, height=480)")
    return _positive_int(width, "width", source), _positive_int(height, "height", source)


def intrinsics_from_mapping(d: dict, width: Optional[int] = None, height: Optional[int] = None,
                            source: str = "intrinsics") -> Intrinsics:
    """Build :class:`Intrinsics` from a parsed calibration mapping (any supported layout).

    Parameters
    ----------
    d : dict
        Parsed file content.
    width, height : int, optional
        Image size when the mapping lacks it.
    source : str
        Named in error messages (usually the file path).
    """
    if not isinstance(d, dict):
        raise IntrinsicsFileError(f"{source}: expected a mapping, got {type(d).__name__}")
    model = _model(d, source)
    dist = _dist(d, source)
    if all(k in d for k in ("fx", "fy", "cx", "cy")):  # arkit's own format
        vals = {}
        for k in ("fx", "fy", "cx", "cy"):
            v = _numbers(d[k], k, source)
            if v.size != 1:
                raise IntrinsicsFileError(f"{source}: field '{k}' must be one number, got {d[k]!r}")
            vals[k] = float(v.ravel()[0])
        fx, fy, cx, cy = vals["fx"], vals["fy"], vals["cx"], vals["cy"]
    elif "intrinsics" in d and not isinstance(d["intrinsics"], dict):  # EuRoC / Kalibr sensor.yaml
        v = _numbers(d["intrinsics"], "intrinsics", source).ravel()
        if v.size != 4:
            raise IntrinsicsFileError(f"{source}: field 'intrinsics' must be [fu, fv, cu, cv], got {v.size} numbers")
        fx, fy, cx, cy = v.tolist()
    else:
        key, value = _first(d, _K_KEYS)
        if value is None:
            present = ", ".join(sorted(map(str, d.keys()))[:12]) or "nothing"
            raise IntrinsicsFileError(
                f"{source}: no camera intrinsics found (need fx, fy, cx, cy or a 3x3 camera matrix "
                f"under 'K' / 'camera_matrix'); the file has: {present}")
        K = _numbers(value, key, source)
        if K.size != 9:
            raise IntrinsicsFileError(f"{source}: field '{key}' must be a 3x3 matrix (9 numbers), got {K.size}")
        K = K.reshape(3, 3)
        if key == "intrinsic_matrix" and K[0, 2] == 0 and K[2, 0] != 0:
            K = K.T  # Open3D stores the matrix column-major
        if abs(K[2, 2] - 1.0) > 1e-9 or K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0:
            raise IntrinsicsFileError(
                f"{source}: field '{key}' is not a camera matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]]: {K.tolist()}")
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    for name, v in (("fx", fx), ("fy", fy)):
        if not v > 0:
            raise IntrinsicsFileError(f"{source}: focal length {name}={v} must be positive")
    w, h = _size(d, width, height, source)
    try:
        return Intrinsics(w, h, fx, fy, cx, cy, dist, model)
    except IntrinsicsError as e:
        raise IntrinsicsFileError(f"{source}: {e}") from None
