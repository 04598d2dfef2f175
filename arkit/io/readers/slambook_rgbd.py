"""Reader for the RGB-D folders of the book "14 Lectures on Visual SLAM" (slambook2 ``ch5/rgbd``).

Layout::

    color/1.png, color/2.png, ...      RGB images (numbered from 1)
    depth/1.pgm|png, ...                16-bit depth, metres = value / depth_scale (Kinect: 1000)
    pose.txt                            one line per image, in number order:
                                        ``tx ty tz qx qy qz qw`` (camera-to-world, OpenCV axes, metres)

The book's sample (``ch5/rgbd``, five real Kinect frames) has no intrinsics file; its code uses
fx=518.0, fy=519.0, cx=325.5, cy=253.5 at 640x480, which is this reader's default
(:data:`DEFAULT_K`). Pass ``intrinsics=`` for other captures. The poses come from a
reconstruction, not from motion capture. Timestamps are ``(number - first) / fps`` (the folder
has none; ``fps`` defaults to 30).

>>> src = SlambookRgbdSource("slambook2_data/ch5/rgbd")    # doctest: +SKIP
>>> [f.T_world_camera_recorded[:3, 3] for f in src]        # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.core.pose import from_rt, quat_wxyz_to_matrix
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource
from arkit.io.sources import register_reader

#: Intrinsics used by slambook2's ``ch5/rgbd`` code (Kinect, 640x480).
DEFAULT_K = np.array([[518.0, 0.0, 325.5], [0.0, 519.0, 253.5], [0.0, 0.0, 1.0]])
_NUM_RE = re.compile(r"^(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)
_DEPTH_EXT = (".pgm", ".png")


def _color_files(folder: Path) -> list:
    out = []
    for f in (folder / "color").iterdir():
        m = _NUM_RE.match(f.name)
        if m:
            out.append((int(m.group(1)), f))
    return sorted(out)


def is_slambook_rgbd_folder(path) -> bool:
    """True for a folder with ``color/``, ``depth/`` and a 7-column ``pose.txt``."""
    p = Path(path)
    if not (p.is_dir() and (p / "color").is_dir() and (p / "depth").is_dir() and (p / "pose.txt").is_file()):
        return False
    with open(p / "pose.txt", encoding="utf-8", errors="replace") as fh:
        first = next((ln for ln in fh if ln.strip() and not ln.startswith("#")), "")
    return len(first.split()) == 7 and bool(_color_files(p))


def read_pose_lines(path) -> np.ndarray:
    """(N, 4, 4) float64 camera-to-world poses from ``tx ty tz qx qy qz qw`` lines."""
    path = Path(path)
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read 'tx ty tz qx qy qz qw' pose lines ({e})") from None
    if rows.shape[1] != 7:
        raise InputFileError(f"{path}: expected 7 columns (tx ty tz qx qy qz qw), got {rows.shape[1]}")
    q_wxyz = rows[:, [6, 3, 4, 5]]
    norms = np.linalg.norm(q_wxyz, axis=1)
    if np.any(norms < 1e-6) or not np.all(np.isfinite(rows)):
        raise InputFileError(f"{path}: a pose line has a zero or non-finite quaternion")
    return np.stack([from_rt(quat_wxyz_to_matrix(q / n), t) for q, n, t in zip(q_wxyz, norms, rows[:, :3])])


class SlambookRgbdSource(FrameSource):
    """Frames of a slambook2-style RGB-D folder with depth and recorded poses.

    Parameters
    ----------
    folder : str or Path
        The folder (see the module docstring).
    intrinsics : Intrinsics or str or Path, optional
        Defaults to :data:`DEFAULT_K` (scaled to the image size if it differs from 640x480).
    depth_scale : float
        Raw depth units per metre (Kinect 1000, ICL-NUIM 5000).
    fps : float
        Nominal frame rate for the synthetic timestamps.
    """

    def __init__(self, folder, intrinsics=None, depth_scale: float = 1000.0, fps: float = 30.0):
        import cv2

        self.folder = Path(folder)
        if not is_slambook_rgbd_folder(self.folder):
            raise SourceError(f"{self.folder} is not a slambook RGB-D folder (color/, depth/, pose.txt with "
                              f"'tx ty tz qx qy qz qw' lines)")
        if depth_scale <= 0:
            raise SourceError(f"{self.folder}: depth_scale must be > 0, got {depth_scale}")
        self._files = _color_files(self.folder)
        poses = read_pose_lines(self.folder / "pose.txt")
        if len(poses) != len(self._files):
            raise InputFileError(f"{self.folder / 'pose.txt'} has {len(poses)} poses for {len(self._files)} colour "
                                 f"images; they must pair up in number order")
        self._poses = poses
        first = cv2.imread(str(self._files[0][1]), cv2.IMREAD_COLOR)
        if first is None:
            raise InputFileError(f"{self._files[0][1]}: cannot decode the colour image")
        h, w = first.shape[:2]
        K = resolve_intrinsics(intrinsics, w, h, what=f"slambook folder {self.folder}")
        self._intrinsics = K or Intrinsics.from_matrix(DEFAULT_K, 640, 480).scaled(w, h)
        self.depth_scale, self._fps = float(depth_scale), float(fps)
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
        return self._fps

    def _depth_path(self, number: int) -> Path:
        for ext in _DEPTH_EXT:
            p = self.folder / "depth" / f"{number}{ext}"
            if p.exists():
                return p
        raise InputFileError(f"{self.folder / 'depth'}: no {number}.pgm or {number}.png for colour image {number}")

    def read(self, position: int) -> Frame:
        """The frame at ``position`` (0-based, in number order)."""
        import cv2

        number, path = self._files[position]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputFileError(f"{path}: cannot decode the colour image")
        dpath = self._depth_path(number)
        raw = cv2.imread(str(dpath), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2 or raw.dtype != np.uint16:
            raise InputFileError(f"{dpath}: expected a single-channel 16-bit depth image")
        depth = raw.astype(np.float32) / np.float32(self.depth_scale)
        t = (number - self._files[0][0]) / self._fps
        return Frame(index=position, timestamp_s=t, image_rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                     intrinsics=self._intrinsics, depth_m=depth, T_world_camera_recorded=self._poses[position],
                     meta={"file": path.name, "frame_number": number})

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_indexed(len(self._files))


register_reader(is_slambook_rgbd_folder, SlambookRgbdSource, name="slambook RGB-D folder (color/, depth/, pose.txt)")
