"""Reader for Open3D / Redwood style RGB-D folders with a ``.log`` trajectory.

Layout (Open3D's test data ``RGBD/`` and the Redwood indoor scenes)::

    color/00000.jpg|png, ...     RGB images, sorted by name
    depth/00000.png, ...         uint16 depth, metres = value / depth_scale (1000), 0 = invalid
    odometry.log | trajectory.log   Redwood log: per frame a header line "i j k" and a 4x4
                                    camera-to-world matrix (4 lines), metres, OpenCV camera axes
    ../camera_*.json (optional)  Open3D ``PinholeCameraIntrinsic`` JSON (width, height,
                                 column-major ``intrinsic_matrix``)

Colour and depth are paired by sorted position (or by ``rgbd.match`` when present: lines
``depth/x.png color/x.jpg``). Without an intrinsics file the reader uses Open3D's
PrimeSense default (fx=fy=525, cx=319.5, cy=239.5 at 640x480), as Open3D's own examples do
for this data. ``odometry.log`` is preferred over ``trajectory.log`` (pass ``log=`` to choose).
Timestamps are ``position / fps`` (the folder has none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource
from arkit.io.sources import register_reader

#: Open3D's ``PinholeCameraIntrinsicParameters.PrimeSenseDefault``.
PRIMESENSE_K = np.array([[525.0, 0.0, 319.5], [0.0, 525.0, 239.5], [0.0, 0.0, 1.0]])
LOG_NAMES = ("odometry.log", "trajectory.log")
_IMAGE_EXT = (".jpg", ".jpeg", ".png")


def is_redwood_rgbd_folder(path) -> bool:
    """True for a folder with ``color/``, ``depth/`` and ``odometry.log`` or ``trajectory.log``."""
    p = Path(path)
    return (p.is_dir() and (p / "color").is_dir() and (p / "depth").is_dir()
            and any((p / n).is_file() for n in LOG_NAMES))


def read_redwood_log(path) -> np.ndarray:
    """(N, 4, 4) float64 poses of a Redwood ``.log`` file (header line + 4 matrix rows per pose)."""
    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as e:
        raise InputFileError(f"{path}: cannot read the trajectory log ({e})") from None
    if len(lines) % 5 != 0:
        raise InputFileError(f"{path}: a Redwood log has 5 lines per pose (header + 4x4), got {len(lines)} lines")
    poses = []
    for k in range(0, len(lines), 5):
        try:
            M = np.array([[float(x) for x in row] for row in lines[k + 1:k + 5]], dtype=np.float64)
        except ValueError:
            raise InputFileError(f"{path}: pose {k // 5} (line {k + 2}) is not a 4x4 matrix of numbers") from None
        if M.shape != (4, 4) or not np.all(np.isfinite(M)):
            raise InputFileError(f"{path}: pose {k // 5} (line {k + 2}) is not a finite 4x4 matrix")
        poses.append(M)
    return np.asarray(poses).reshape(-1, 4, 4)


def read_open3d_intrinsics_json(path) -> Intrinsics:
    """An Open3D ``PinholeCameraIntrinsic`` JSON file as :class:`Intrinsics`."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        K = np.asarray(d["intrinsic_matrix"], np.float64).reshape(3, 3).T   # stored column-major
        return Intrinsics.from_matrix(K, int(d["width"]), int(d["height"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputFileError(f"{path}: not an Open3D camera intrinsic JSON (width, height, intrinsic_matrix): {e}") from None


def _images(folder: Path) -> list:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in _IMAGE_EXT)


class RedwoodRgbdSource(FrameSource):
    """Frames of an Open3D/Redwood RGB-D folder with recorded poses.

    Parameters
    ----------
    folder : str or Path
    intrinsics : Intrinsics or str or Path, optional
        Defaults to a ``camera_*.json`` in the folder or its parent, else :data:`PRIMESENSE_K`.
    log : str, optional
        Name of the trajectory file in the folder (default: the first of :data:`LOG_NAMES`).
    depth_scale : float
        Raw depth units per metre.
    fps : float
        Nominal frame rate for the synthetic timestamps.
    """

    def __init__(self, folder, intrinsics=None, log: Optional[str] = None, depth_scale: float = 1000.0,
                 fps: float = 30.0):
        self.folder = Path(folder)
        if not is_redwood_rgbd_folder(self.folder):
            raise SourceError(f"{self.folder} is not an Open3D/Redwood RGB-D folder (color/, depth/, odometry.log "
                              f"or trajectory.log)")
        if depth_scale <= 0:
            raise SourceError(f"{self.folder}: depth_scale must be > 0, got {depth_scale}")
        log_path = self.folder / log if log else next(self.folder / n for n in LOG_NAMES if (self.folder / n).is_file())
        self._poses = read_redwood_log(log_path)
        self._pairs = self._pair_files()
        if len(self._poses) != len(self._pairs):
            raise InputFileError(f"{log_path} has {len(self._poses)} poses for {len(self._pairs)} RGB-D pairs")
        K = resolve_intrinsics(intrinsics, what=f"Redwood folder {self.folder}")
        if K is None:
            js = sorted(self.folder.glob("camera*.json")) + sorted(self.folder.parent.glob("camera*.json"))
            K = read_open3d_intrinsics_json(js[0]) if js else Intrinsics.from_matrix(PRIMESENSE_K, 640, 480)
        self._intrinsics = K
        self.depth_scale, self._fps = float(depth_scale), float(fps)
        self.name = str(self.folder)
        self.skipped_frames = 0

    def _pair_files(self) -> list:
        match = self.folder / "rgbd.match"
        if match.is_file():
            pairs = []
            for n, ln in enumerate(match.read_text(encoding="utf-8").splitlines(), 1):
                parts = ln.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise InputFileError(f"{match}:{n}: expected 'depth/x.png color/x.jpg', got {ln!r}")
                pairs.append((self.folder / parts[1], self.folder / parts[0]))
            return pairs
        colors, depths = _images(self.folder / "color"), _images(self.folder / "depth")
        if len(colors) != len(depths) or not colors:
            raise InputFileError(f"{self.folder}: {len(colors)} colour and {len(depths)} depth images; they must pair up")
        return list(zip(colors, depths))

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> int:
        return len(self._pairs)

    @property
    def fps(self) -> float:
        return self._fps

    def read(self, position: int) -> Frame:
        """The frame at ``position`` (0-based)."""
        import cv2

        cpath, dpath = self._pairs[position]
        bgr = cv2.imread(str(cpath), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputFileError(f"{cpath}: cannot decode the colour image")
        raw = cv2.imread(str(dpath), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2 or raw.dtype != np.uint16:
            raise InputFileError(f"{dpath}: expected a single-channel 16-bit depth PNG")
        self._intrinsics.check_image(bgr, what=str(cpath))
        return Frame(index=position, timestamp_s=position / self._fps, image_rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                     intrinsics=self._intrinsics, depth_m=raw.astype(np.float32) / np.float32(self.depth_scale),
                     T_world_camera_recorded=self._poses[position], meta={"file": cpath.name})

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_indexed(len(self._pairs))


register_reader(is_redwood_rgbd_folder, RedwoodRgbdSource, name="Open3D/Redwood RGB-D folder (color/, depth/, .log)")
