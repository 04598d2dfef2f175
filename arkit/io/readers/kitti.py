"""Reader for KITTI odometry sequences (monocular, left grayscale camera).

Layout::

    calib.txt        lines ``P0: 12 numbers`` (or the 12 numbers alone), 3x4 projection matrices
    poses.txt        optional, one 3x4 camera-to-world matrix per line (12 numbers), frame 0 = identity
    image_0/ | image_l/ | image_2/   000000.png, 000001.png, ...
    times.txt        optional, one timestamp in seconds per line (else index / 10 Hz)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.source_base import FrameSource
from arkit.io.sources import register_reader


IMAGE_DIRS = ("image_0", "image_l", "image_2")
FPS = 10.0


def is_kitti_folder(path) -> bool:
    """True when ``path`` holds ``calib.txt`` and one of the KITTI image folders."""
    p = Path(path)
    return p.is_dir() and (p / "calib.txt").exists() and any((p / d).is_dir() for d in IMAGE_DIRS)


def read_kitti_calib(path, camera: int = 0) -> np.ndarray:
    """The (3, 4) projection matrix ``P<camera>`` of a KITTI ``calib.txt``."""
    path = Path(path)
    rows = []
    try:
        text = path.read_text()
    except OSError as e:
        raise InputFileError(f"{path}: cannot read KITTI calibration ({e})") from None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if ":" in line:
            key, _, rest = line.partition(":")
            if not key.strip().startswith("P"):
                continue
            line = rest
        vals = line.split()
        if len(vals) != 12:
            raise InputFileError(f"{path}: a projection line must hold 12 numbers, got {len(vals)}")
        rows.append(np.array([float(v) for v in vals]).reshape(3, 4))
    if camera >= len(rows):
        raise InputFileError(f"{path}: has {len(rows)} projection matrices, camera {camera} requested")
    return rows[camera]


def read_kitti_poses(path) -> np.ndarray:
    """KITTI ``poses.txt`` -> (N, 4, 4) float64 camera-to-world matrices."""
    path = Path(path)
    try:
        A = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read KITTI poses ({e})") from None
    if A.shape[1] != 12:
        raise InputFileError(f"{path}: each KITTI pose line must hold 12 numbers, got {A.shape[1]}")
    T = np.tile(np.eye(4), (len(A), 1, 1))
    T[:, :3, :] = A.reshape(-1, 3, 4)
    return T


class KittiOdometrySource(FrameSource):
    """Grayscale frames of a KITTI odometry sequence (returned as 3-channel RGB).

    Parameters
    ----------
    folder : str or Path
        Sequence folder with ``calib.txt`` and an image folder (``image_0``, ``image_l`` or ``image_2``).
    camera : int
        Which ``P`` row of ``calib.txt`` gives the intrinsics (0 = left grayscale).
    start, stop, step : int, optional
        Slice of the sorted image list.

    Frames carry ``T_world_camera_recorded`` from ``poses.txt`` when present.
    """

    def __init__(self, folder, camera: int = 0, start: int = 0, stop: Optional[int] = None, step: int = 1):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"KITTI folder {self.folder} does not exist")
        image_dir = next((self.folder / d for d in IMAGE_DIRS if (self.folder / d).is_dir()), None)
        if image_dir is None:
            raise SourceError(f"{self.folder}: no image folder ({', '.join(IMAGE_DIRS)}); is this a KITTI sequence?")
        calib = self.folder / "calib.txt"
        if not calib.exists():
            raise SourceError(f"{self.folder}: calib.txt is missing; KITTI sequences need it for intrinsics")
        self._P = read_kitti_calib(calib, camera)
        all_files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".png", ".jpg"))
        if not all_files:
            raise SourceError(f"{image_dir}: no .png images")
        positions = list(range(len(all_files)))[start:stop:step]
        if not positions:
            raise SourceError(f"{self.folder}: the slice start={start} stop={stop} step={step} selects no frames")
        self._files = [all_files[i] for i in positions]
        self._positions = positions
        poses_file = self.folder / "poses.txt"
        self._poses = read_kitti_poses(poses_file) if poses_file.exists() else None
        times_file = self.folder / "times.txt"
        self._times = np.loadtxt(times_file, ndmin=1) if times_file.exists() else None
        import cv2

        first = cv2.imread(str(self._files[0]), cv2.IMREAD_GRAYSCALE)
        if first is None:
            raise SourceError(f"{self._files[0]}: cannot decode the image")
        h, w = first.shape
        self._intrinsics = Intrinsics.from_matrix(self._P[:, :3], w, h)
        self.name = str(self.folder)
        self.skipped_frames = 0

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> int:
        return len(self._files)

    @property
    def fps(self) -> float:
        return FPS

    def _timestamp(self, pos: int) -> float:
        if self._times is not None and pos < len(self._times):
            return float(self._times[pos])
        return pos / FPS

    def ground_truth(self) -> tuple:
        """``(timestamps_s (N,), T_world_camera (N, 4, 4))`` for the selected frames (empty without poses.txt)."""
        if self._poses is None:
            return np.zeros(0), np.zeros((0, 4, 4))
        idx = [p for p in self._positions if p < len(self._poses)]
        return np.array([self._timestamp(p) for p in idx]), self._poses[idx]

    def read(self, i: int) -> Frame:
        """The ``i``-th frame of this (sliced) source."""
        import cv2

        path, pos = self._files[i], self._positions[i]
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise InputFileError(f"{path}: cannot decode the image")
        T = self._poses[pos] if self._poses is not None and pos < len(self._poses) else None
        return Frame(index=i, timestamp_s=self._timestamp(pos), image_rgb=np.repeat(gray[:, :, None], 3, axis=2),
                     intrinsics=self._intrinsics, T_world_camera_recorded=T, meta={"file": path.name})

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_indexed(len(self._files))


register_reader(is_kitti_folder, KittiOdometrySource, name="KITTI odometry folder (calib.txt + image_0/)")
