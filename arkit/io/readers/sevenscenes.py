"""Reader for Microsoft 7-Scenes style RGB-D folders.

Layout (one folder per sequence)::

    camera-intrinsics.txt          3x3 camera matrix (optional; 7-Scenes default fx=fy=585, cx=320, cy=240)
    frame-000000.color.jpg|png     RGB image
    frame-000000.depth.png         uint16 depth in millimetres, 0 (or 65535) = invalid
    frame-000000.pose.txt          4x4 camera-to-world, OpenCV camera axes, metres (optional)

Depth and colour are *not* registered in 7-Scenes (the Kinect depth sensor sits ~2.5 cm beside
the colour camera). This reader passes depth through unchanged, as the 7-Scenes benchmarks do;
consumers treat depth at a colour pixel as an approximation of that pixel's depth.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.source_base import FrameSource
from arkit.io.sources import register_reader


_COLOR_RE = re.compile(r"^frame-(\d+)\.color\.(jpg|png)$")
#: 7-Scenes' published intrinsics (used when the folder has no camera-intrinsics.txt).
DEFAULT_K = np.array([[585.0, 0.0, 320.0], [0.0, 585.0, 240.0], [0.0, 0.0, 1.0]])
DEPTH_SCALE = 1000.0
FPS = 30.0


def is_sevenscenes_folder(path) -> bool:
    """True when ``path`` is a folder holding ``frame-N.color.*`` and ``frame-N.depth.png`` files."""
    p = Path(path)
    if not p.is_dir():
        return False
    for f in p.iterdir():
        m = _COLOR_RE.match(f.name)
        if m and (p / f"frame-{m.group(1)}.depth.png").exists():
            return True
    return False


def _read_matrix(path: Path, shape: tuple) -> np.ndarray:
    try:
        M = np.loadtxt(path, dtype=np.float64)
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read a {shape[0]}x{shape[1]} matrix ({e})") from None
    if M.shape != shape:
        raise InputFileError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got shape {M.shape}")
    return M


class SevenScenesSource(FrameSource):
    """Frames of a 7-Scenes sequence folder, with depth and ground-truth poses.

    Parameters
    ----------
    folder : str or Path
        The sequence folder (see the module docstring for its layout).
    start, stop, step : int, optional
        Slice of the sorted frame list (positions, not file numbers).
    load_depth : bool
        Attach ``depth_m`` (float32 metres, 0 = invalid) to each frame.

    Frames carry ``T_world_camera_recorded`` (the KinectFusion ground truth) when the pose file
    exists, ``timestamp_s = file_number / 30``, and ``meta["file"]``.

    >>> src = SevenScenesSource("sevenscenes_redkitchen_a", stop=30)   # doctest: +SKIP
    >>> frame = next(iter(src)); frame.depth_m.dtype                    # doctest: +SKIP
    dtype('float32')
    """

    def __init__(self, folder, start: int = 0, stop: Optional[int] = None, step: int = 1,
                 load_depth: bool = True):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"7-Scenes folder {self.folder} does not exist")
        entries = []
        for f in self.folder.iterdir():
            m = _COLOR_RE.match(f.name)
            if m:
                entries.append((int(m.group(1)), m.group(1), f))
        if not entries:
            raise SourceError(f"{self.folder}: no frame-N.color.jpg/png files; is this a 7-Scenes sequence folder?")
        entries.sort()
        self._entries = entries[start:stop:step]
        if not self._entries:
            raise SourceError(f"{self.folder}: the slice start={start} stop={stop} step={step} selects no frames")
        kfile = self.folder / "camera-intrinsics.txt"
        K = _read_matrix(kfile, (3, 3)) if kfile.exists() else DEFAULT_K
        self._intrinsics = Intrinsics.from_matrix(K, 640, 480)
        self.load_depth = load_depth
        self.name = str(self.folder)
        self.skipped_frames = 0

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> int:
        return len(self._entries)

    @property
    def fps(self) -> float:
        return FPS

    def ground_truth(self) -> tuple:
        """``(timestamps_s (N,), T_world_camera (N, 4, 4))`` for frames that have a pose file."""
        ts, Ts = [], []
        for number, tag, _ in self._entries:
            p = self.folder / f"frame-{tag}.pose.txt"
            if p.exists():
                ts.append(number / FPS)
                Ts.append(_read_matrix(p, (4, 4)))
        return np.asarray(ts, dtype=np.float64), np.asarray(Ts, dtype=np.float64).reshape(-1, 4, 4)

    def read(self, position: int) -> Frame:
        """The frame at ``position`` in this source's (sliced) frame list."""
        import cv2

        number, tag, color_path = self._entries[position]
        bgr = cv2.imread(str(color_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputFileError(f"{color_path}: cannot decode the colour image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        K = self._intrinsics
        if (rgb.shape[1], rgb.shape[0]) != K.size:
            K = K.scaled(rgb.shape[1], rgb.shape[0])
        depth = None
        if self.load_depth:
            dpath = self.folder / f"frame-{tag}.depth.png"
            raw = cv2.imread(str(dpath), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise InputFileError(f"{dpath}: missing or unreadable 16-bit depth PNG")
            raw = raw.astype(np.float32)
            raw[raw >= 65535] = 0.0
            depth = raw / DEPTH_SCALE
        pose_path = self.folder / f"frame-{tag}.pose.txt"
        T = _read_matrix(pose_path, (4, 4)) if pose_path.exists() else None
        if T is not None and not np.all(np.isfinite(T)):
            T = None  # 7-Scenes marks failed KinectFusion frames with inf
        return Frame(index=position, timestamp_s=number / FPS, image_rgb=rgb, intrinsics=K, depth_m=depth,
                     T_world_camera_recorded=T, meta={"file": color_path.name, "frame_number": number})

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_indexed(len(self._entries))


register_reader(is_sevenscenes_folder, SevenScenesSource, name="7-Scenes RGB-D folder (frame-N.color.jpg/.depth.png/.pose.txt)")
