"""Reader for Record3D (iOS LiDAR app) ``.r3d`` exports, zipped or unzipped.

An ``.r3d`` file is a zip archive (the unzipped folder is read the same way)::

    metadata          JSON: "w", "h" colour size; "K" 9 numbers, the 3x3 camera matrix for the
                      colour size in column-major order; "dw", "dh" depth size; "fps";
                      "poses": one [qx, qy, qz, qw, tx, ty, tz] per frame; optional
                      "frameTimestamps" (s) and "initPose"
    rgbd/<i>.jpg      colour frame i (w x h)
    rgbd/<i>.depth    LZFSE-compressed float32 depth in metres (dw x dh), NaN/0 = invalid
    rgbd/<i>.conf     (optional) LZFSE-compressed uint8 ARKit confidence 0..2 (dw x dh)

What this relies on (public code that reads .r3d files; Record3D has no written spec):
``codekansas/usa`` ``usa/tasks/datasets/r3d.py`` (metadata keys, column-major ``K`` read as
``reshape(3, 3).T``, pose order ``qx, qy, qz, qw, px, py, pz``, ``pyliblzfse`` decompression of
float32 depth and uint8 confidence at ``dh x dw``) and the Record3D loader of nerfstudio/viser
examples (``Rotation.from_quat(poses[:, :4])`` then ``@ diag(1, -1, -1, 1)``). The poses are ARKit
camera-to-world transforms with OpenGL camera axes (x right, y up, z backwards);
:func:`record3d_pose_to_T_world_camera` converts them with
:func:`arkit.core.pose.opengl_to_opencv_camera`.

Depth is the ARKit scene depth of the same camera, so it is resampled to the colour size with
:func:`arkit.io.readers.scannet.register_depth_by_intrinsics` (nearest neighbour, exact up to
the rounding) and the confidence map likewise (``frame.meta["confidence"]``). Decompressing
needs the ``pyliblzfse`` package (``pip install pyliblzfse``, imported as ``liblzfse``); without
it only uncompressed ``.depth``/``.conf`` members (raw float32/uint8 of exactly ``dw*dh``
elements) can be read and compressed ones raise :class:`MissingDependencyError`.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
import zipfile
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, MissingDependencyError, SourceError
from arkit.core.frame import Frame
from arkit.core.pose import opengl_to_opencv_camera, quat_wxyz_to_matrix
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

_LZFSE_MAGIC = (b"bvx1", b"bvx2", b"bvxn", b"bvx-", b"bvx$")
_COLOR_RE = re.compile(r"^rgbd/(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


def is_record3d_capture(path) -> bool:
    """True for a ``.r3d`` file or an unzipped folder with ``metadata`` and ``rgbd/``.

    Any ``.r3d`` file is claimed (even a broken one), so that opening it gives the reader's
    error message (e.g. "truncated") instead of "unrecognised file type".
    """
    p = Path(path)
    if p.is_dir():
        return (p / "metadata").is_file() and (p / "rgbd").is_dir()
    return p.is_file() and p.suffix.lower() == ".r3d"


def record3d_pose_to_T_world_camera(pose) -> np.ndarray:
    """One Record3D pose ``[qx, qy, qz, qw, tx, ty, tz]`` (ARKit, OpenGL camera axes) to ``T_world_camera``.

    Returns
    -------
    (4, 4) float64
        Camera-to-world with OpenCV camera axes.
    """
    v = np.asarray(pose, dtype=np.float64).reshape(7)
    T_gl = np.eye(4)
    T_gl[:3, :3] = quat_wxyz_to_matrix([v[3], v[0], v[1], v[2]])
    T_gl[:3, 3] = v[4:7]
    return opengl_to_opencv_camera(T_gl)


def decode_r3d_array(raw: bytes, dtype, shape: tuple, what: str) -> np.ndarray:
    """Decode an LZFSE-compressed (or raw) ``.depth``/``.conf`` member into a ``shape`` array.

    Raises
    ------
    MissingDependencyError
        The data is LZFSE-compressed and ``pyliblzfse`` is not installed.
    InputFileError
        The data does not hold ``shape`` elements of ``dtype`` (``what`` names the member).
    """
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if raw[:4] in _LZFSE_MAGIC:
        try:
            import liblzfse
        except ImportError:
            raise MissingDependencyError(
                f"{what} is LZFSE-compressed; install the 'pyliblzfse' package (pip install pyliblzfse) "
                f"to read Record3D depth, or pass load_depth=False") from None
        try:
            raw = liblzfse.decompress(raw)
        except Exception as e:  # noqa: BLE001 - liblzfse.error and friends
            raise InputFileError(f"{what}: LZFSE data is corrupt ({e})") from None
    if len(raw) != n:
        raise InputFileError(f"{what}: expected {shape[1]}x{shape[0]} {np.dtype(dtype).name} values "
                             f"({n} bytes), got {len(raw)} bytes; is metadata dw/dh right?")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class _Archive:
    """Read members of a zipped or unzipped capture by name."""

    def __init__(self, path: Path):
        self.path = path
        self._zip = None
        self._is_dir = path.is_dir()
        if self._is_dir:
            self.names = [str(f.relative_to(path)).replace("\\", "/") for f in path.rglob("*") if f.is_file()]
        else:
            self._open()
            self.names = self._zip.namelist()

    def _open(self) -> None:
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as e:
            raise SourceError(f"{self.path} is not a readable .r3d (zip) archive: {e}; is it truncated?") from None

    def read(self, name: str) -> Optional[bytes]:
        try:
            if self._is_dir:
                path = self.path / name
                return path.read_bytes() if path.is_file() else None
            if self._zip is None:  # reopened after close(), e.g. for a second pass
                self._open()
            return self._zip.read(name)
        except KeyError:
            return None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise InputFileError(f"{self.path}: member {name} cannot be read ({e}); the archive may be truncated") \
                from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


class Record3DSource(FrameSource):
    """Colour, LiDAR depth, confidence and ARKit poses of a Record3D ``.r3d`` capture.

    Parameters
    ----------
    path : str or Path
        The ``.r3d`` file or its unzipped folder.
    min_confidence : int
        Depth pixels with confidence below this (0, 1, 2) are set to 0; 0 keeps all.
    load_depth : bool
        Read ``rgbd/<i>.depth`` (needs ``pyliblzfse`` for compressed depth).
    max_frames : int, optional
        Stop after this many frames.

    Raises
    ------
    SourceError
        Not a zip archive (or truncated), or no ``rgbd/<i>.jpg`` frames.
    InputFileError
        ``metadata`` is missing, not JSON or lacks a field (the message names it).
    """

    def __init__(self, path, *, min_confidence: int = 1, load_depth: bool = True, max_frames: Optional[int] = None):
        self.path = Path(path)
        self.name = str(self.path)
        if not self.path.exists():
            raise InputFileError(f"Record3D capture {self.path} does not exist; check the path")
        self.min_confidence = int(min_confidence)
        self.load_depth = load_depth
        self.max_frames = max_frames
        self.skipped_frames = 0
        self._archive = _Archive(self.path)
        try:
            self._read_metadata()
        except Exception:
            self._archive.close()
            raise
        frames = []
        for name in self._archive.names:
            m = _COLOR_RE.match(name)
            if m:
                frames.append((int(m.group(1)), name))
        if not frames:
            self._archive.close()
            raise SourceError(f"{self.path} holds no rgbd/<i>.jpg colour frames")
        self._frames = sorted(frames)
        if len(self._poses) < len(self._frames):
            log.warning("%s: metadata has %d poses for %d frames; later frames get no pose", self.path,
                        len(self._poses), len(self._frames))

    def _read_metadata(self) -> None:
        what = f"{self.path}:metadata"
        raw = self._archive.read("metadata")
        if raw is None:
            raise InputFileError(f"{self.path} has no 'metadata' member; it is not a Record3D .r3d export")
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputFileError(f"{what} is not valid JSON: {e}") from None
        if not isinstance(meta, dict):
            raise InputFileError(f"{what} must be a JSON object")
        try:
            w, h = int(meta["w"]), int(meta["h"])
            self._depth_size = (int(meta.get("dw", w)), int(meta.get("dh", h)))
            K = np.asarray(meta["K"], dtype=np.float64).reshape(3, 3).T  # column-major
            self._fps = float(meta.get("fps", 30.0)) or 30.0
        except KeyError as e:
            raise InputFileError(f"{what} lacks the field {e.args[0]!r} (needs w, h, K)") from None
        except (TypeError, ValueError) as e:
            raise InputFileError(f"{what}: w, h, dw, dh, fps must be numbers and K 9 numbers ({e})") from None
        try:
            self._intrinsics = Intrinsics.from_matrix(K, w, h)
        except IntrinsicsError as e:
            raise InputFileError(f"{what}: bad K ({e})") from None
        poses = meta.get("poses", [])
        self._poses = []
        for i, p in enumerate(poses):
            try:
                T = record3d_pose_to_T_world_camera(p)
            except (TypeError, ValueError, ArithmeticError) as e:
                raise InputFileError(f"{what}: poses[{i}] must be 7 numbers [qx, qy, qz, qw, tx, ty, tz] ({e})") \
                    from None
            except Exception as e:  # noqa: BLE001 - zero-norm quaternion (ArkitError)
                raise InputFileError(f"{what}: poses[{i}] is invalid ({e})") from None
            self._poses.append(T if np.all(np.isfinite(T)) else None)
        ts = meta.get("frameTimestamps")
        self._times = [float(t) for t in ts] if isinstance(ts, list) else None

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._frames)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def close(self) -> None:
        self._archive.close()

    def _depth(self, i: int) -> tuple:
        """``(depth (H, W) float32, confidence (H, W) uint8 or None)``; raises InputFileError."""
        import cv2

        from arkit.io.readers.scannet import register_depth_by_intrinsics

        dw, dh = self._depth_size
        name = f"rgbd/{i}.depth"
        raw = self._archive.read(name)
        if raw is None:
            raise InputFileError(f"{self.path}: {name} is missing")
        depth = decode_r3d_array(raw, np.float32, (dh, dw), f"{self.path}:{name}")
        depth[~np.isfinite(depth) | (depth < 0)] = 0.0
        conf = None
        raw_c = self._archive.read(f"rgbd/{i}.conf")
        if raw_c is not None:
            conf = decode_r3d_array(raw_c, np.uint8, (dh, dw), f"{self.path}:rgbd/{i}.conf")
            if self.min_confidence > 0:
                depth[conf < self.min_confidence] = 0.0
        K = self._intrinsics
        depth = register_depth_by_intrinsics(depth, K.scaled(dw, dh), K)
        if conf is not None and conf.shape != depth.shape:
            conf = cv2.resize(conf, K.size, interpolation=cv2.INTER_NEAREST)
        return depth, conf

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        from arkit.io.readers.scannet import DepthScaleCheck

        self.skipped_frames = 0
        K = self._intrinsics
        index = 0
        scale_check = DepthScaleCheck()
        for number, name in self._frames:
            if self.max_frames is not None and index >= self.max_frames:
                break
            try:
                data = self._archive.read(name)
            except InputFileError as e:
                self._skip(str(e))
                continue
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if bgr is None or (bgr.shape[1], bgr.shape[0]) != K.size:
                self._skip(f"{self.path}:{name} is unreadable or not {K.width}x{K.height}")
                continue
            depth = conf = None
            if self.load_depth:
                try:
                    depth, conf = self._depth(number)
                except InputFileError as e:
                    self._skip(str(e))
                    continue
                med = scale_check(depth)
                if med is not None:
                    warnings.warn(f"{self.path}: median depth {med:.1f} m is implausible; Record3D depth must be "
                                  f"float32 metres", stacklevel=2)
            t = (self._times[number] if self._times is not None and number < len(self._times)
                 else number / self._fps)
            T = self._poses[number] if number < len(self._poses) else None
            meta = {"source": self.name, "file": name}
            if conf is not None:
                meta["confidence"] = conf
            yield Frame(index=index, timestamp_s=t, image_rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), intrinsics=K,
                        depth_m=depth, T_world_camera_recorded=T, meta=meta)
            index += 1


def _probe(uri) -> bool:
    try:
        return is_record3d_capture(uri)
    except (OSError, TypeError, ValueError):
        return False


def _register() -> None:
    from arkit.io.sources import register_reader

    register_reader(_probe, Record3DSource, name="Record3D .r3d export")


_register()
