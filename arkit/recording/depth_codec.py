"""Lossless storage of a recording's depth maps (uint16 millimetres, 0 = invalid).

Two encodings, named in ``recording.json`` (``"depth_encoding"``):

``"zstd16"`` (written by default)
    ``depth/000042.u16.zst``: the (H, W) little-endian uint16 array, row-major, compressed with
    Zstandard level 1. On the 640x480 marker_room depth it decodes in 0.45 ms (16-bit PNG: 3.5 ms)
    and encodes in 1.1 ms (PNG: 7.5 ms), in 53 kB per frame (PNG: 34 kB).
``"png16"`` (recordings made before it; also written when no Zstandard module is installed)
    ``depth/000042.png``: a 16-bit grayscale PNG.

Zstandard comes from the ``zstandard`` package (a dependency). It decompresses in one call into a
buffer of the frame's recorded size: 0.45 ms a 640x480 map, against 2.0 ms for the standard
library's streaming ``compression.zstd`` (Python >= 3.14; ``backports.zstd`` before), which is the
fallback when ``zstandard`` is not installed. Both write and read the same Zstandard frames.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

PNG16 = "png16"
ZSTD16 = "zstd16"
ENCODINGS = (PNG16, ZSTD16)
_SUFFIX = {PNG16: ".png", ZSTD16: ".u16.zst"}
ZSTD_LEVEL = 1


class _Zstd:
    """The Zstandard calls arkit needs, over whichever module is installed."""

    def __init__(self, module, fast: bool):
        self.module, self.fast = module, fast
        self.Error = module.ZstdError

    def compress(self, data: bytes) -> bytes:
        if self.fast:   # a compressor is not thread-safe: one per call (microseconds)
            return self.module.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
        return self.module.compress(data, ZSTD_LEVEL)

    def decompress(self, data: bytes, size: int) -> bytes:
        """``data`` decompressed; frames not of ``size`` bytes raise :attr:`Error` or come back
        with another length (the caller checks it)."""
        if self.fast:
            return self.module.ZstdDecompressor().decompress(data, max_output_size=size)
        return self.module.decompress(data)


@functools.lru_cache(maxsize=None)   # a failed import searches sys.path again on every call
def zstd_codec():
    """Zstandard through ``zstandard``, else ``compression.zstd`` / ``backports.zstd``, or None."""
    try:
        import zstandard
        return _Zstd(zstandard, fast=True)
    except ImportError:
        pass
    return stdlib_zstd_codec()


@functools.lru_cache(maxsize=None)
def stdlib_zstd_codec():
    """Zstandard through ``compression.zstd`` (Python >= 3.14) or ``backports.zstd``, or None."""
    try:
        from compression import zstd  # Python >= 3.14
        return _Zstd(zstd, fast=False)
    except ImportError:
        pass
    try:
        from backports import zstd
        return _Zstd(zstd, fast=False)
    except ImportError:
        return None


def default_encoding() -> str:
    """``"zstd16"`` when a Zstandard module is available, else ``"png16"``."""
    return ZSTD16 if zstd_codec() is not None else PNG16


def depth_file(position: int, encoding: str) -> str:
    """File name of the depth map at recording position ``position`` (``000042.u16.zst``)."""
    return f"{int(position):06d}{_SUFFIX[encoding]}"


def check_encoding(encoding: str, where) -> str:
    """``encoding`` if arkit reads it, else raise :class:`RecordingError` naming ``where``."""
    from arkit.recording.format import RecordingError

    if encoding not in ENCODINGS:
        raise RecordingError(f"{where}: depth encoding {encoding!r} is unknown (this arkit reads "
                             f"{', '.join(ENCODINGS)}); upgrade arkit")
    return encoding


def write_depth_mm(path, depth_mm: np.ndarray, encoding: str) -> None:
    """Write an (H, W) uint16 depth map to ``path`` (a file name from :func:`depth_file`).

    Raises
    ------
    RecordingError
        The file could not be written (disk full, permissions).
    """
    from arkit.recording.format import RecordingError

    d = np.ascontiguousarray(depth_mm, dtype="<u2")
    try:
        if encoding == ZSTD16:
            Path(path).write_bytes(zstd_codec().compress(d.tobytes()))
            return
        import cv2

        ok = cv2.imwrite(str(path), d)
    except OSError as e:
        raise RecordingError(f"writing depth to {path} failed ({e}); is the disk full?") from None
    if not ok:
        raise RecordingError(f"writing depth to {path} failed (disk full?)")


def read_depth_mm(path, encoding: str, width: int, height: int) -> np.ndarray:
    """Read a depth map written by :func:`write_depth_mm`.

    Returns
    -------
    (height, width) uint16
        Millimetres, 0 = invalid.

    Raises
    ------
    RecordingError
        The file is missing, corrupt, or not ``width`` x ``height``.
    """
    from arkit.recording.format import RecordingError

    p = Path(path)
    if encoding == ZSTD16:
        zstd = zstd_codec()
        if zstd is None:
            raise RecordingError(f"{p}: depth is Zstandard-compressed; pip install zstandard to read it")
        try:
            raw = zstd.decompress(p.read_bytes(), 2 * width * height)
        except FileNotFoundError:
            raise RecordingError(f"{p} is missing; the recording is incomplete") from None
        except (OSError, zstd.Error) as e:
            raise RecordingError(f"{p} is unreadable or corrupt ({e}); re-record it") from None
        if len(raw) != 2 * width * height:
            raise RecordingError(f"{p} holds {len(raw)} bytes, not a {width}x{height} uint16 depth map "
                                 f"({2 * width * height} bytes); the recording is corrupt - re-record it")
        return np.frombuffer(raw, dtype="<u2").reshape(height, width)
    import cv2

    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RecordingError(f"{p} is missing or unreadable; the recording is incomplete")
    if img.shape != (height, width) or img.dtype != np.uint16:
        raise RecordingError(f"{p} is {img.dtype} {img.shape}, not a {width}x{height} uint16 depth map; "
                             f"the recording is corrupt - re-record it")
    return img
