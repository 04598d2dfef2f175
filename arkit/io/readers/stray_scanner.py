"""Reader for Stray Scanner (iOS LiDAR app) exports.

Layout (the app's documented format)::

    rgb.mp4              colour video (1920x1440 on current iPhones)
    camera_matrix.csv    3x3 camera matrix for the video's resolution, comma separated
    odometry.csv         header, then "timestamp, frame, x, y, z, qx, qy, qz, qw" per video frame
                         (older exports: no timestamp/frame columns)
    depth/000000.png     uint16 depth in millimetres (256x192), one per video frame
    confidence/000000.png  0, 1 or 2 per depth pixel (optional)

The app writes the ARKit camera pose multiplied by a 180 degree rotation about x, so
``odometry.csv`` already holds camera-to-world poses with OpenCV camera axes; they are used as
they are. Depth is upsampled (nearest neighbour) to the colour size; pixels whose confidence is
below ``min_confidence`` are set to 0 (invalid). ``resize_to=(W, H)`` shrinks the colour frames
(and scales the intrinsics) - useful for 1920x1440 videos.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.core.pose import quat_wxyz_to_matrix
from arkit.io.intrinsics_files import load_intrinsics, resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

DEPTH_SCALE = 1000.0


def is_stray_scanner_folder(path) -> bool:
    """True for a folder holding ``rgb.mp4`` and ``odometry.csv`` (a Stray Scanner export)."""
    p = Path(path)
    return p.is_dir() and (p / "rgb.mp4").is_file() and (p / "odometry.csv").is_file()


def read_odometry(path) -> tuple:
    """Parse ``odometry.csv``.

    Returns
    -------
    timestamps_s : (N,) float64 or None
        None for old exports without a timestamp column.
    frame_ids : (N,) int64
        Video frame number of each pose.
    T_world_camera : (N, 4, 4) float64
        Camera-to-world, OpenCV camera axes.
    """
    p = Path(path)
    rows = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        parts = [x.strip() for x in s.split(",")]
        try:
            vals = [float(x) for x in parts]
        except ValueError:
            if n == 1:
                continue  # header
            raise InputFileError(f"{p}:{n}: odometry line has a value that is not a number: {s[:80]!r}") from None
        if len(vals) not in (7, 9):
            raise InputFileError(f"{p}:{n}: expected 'timestamp, frame, x, y, z, qx, qy, qz, qw', got {len(vals)} values")
        rows.append(vals)
    if not rows:
        raise InputFileError(f"{p} has no poses")
    if len({len(r) for r in rows}) != 1:
        raise InputFileError(f"{p}: lines have different numbers of values")
    m = np.asarray(rows, dtype=np.float64)
    if m.shape[1] == 9:
        t, ids, m = m[:, 0], m[:, 1].astype(np.int64), m[:, 2:]
    else:
        t, ids = None, np.arange(m.shape[0], dtype=np.int64)
    T = np.tile(np.eye(4), (m.shape[0], 1, 1))
    for i, (x, y, z, qx, qy, qz, qw) in enumerate(m):
        T[i, :3, :3] = quat_wxyz_to_matrix([qw, qx, qy, qz])
        T[i, :3, 3] = (x, y, z)
    return t, ids, T


class StrayScannerSource(FrameSource):
    """Colour, LiDAR depth and ARKit poses from a Stray Scanner export folder.

    Parameters
    ----------
    folder : str or Path
        The export folder.
    intrinsics : Intrinsics or str or Path, optional
        Overrides ``camera_matrix.csv`` (must match the video size, before ``resize_to``).
    resize_to : (int, int), optional
        Output colour size ``(W, H)``; the intrinsics are scaled accordingly.
    min_confidence : int
        Depth pixels with confidence below this (0, 1, 2) are invalid; 0 keeps everything.
    load_depth : bool
        Read the depth maps.
    max_frames : int, optional
        Stop after this many frames.
    """

    def __init__(self, folder, intrinsics=None, *, resize_to: Optional[tuple] = None, min_confidence: int = 1,
                 load_depth: bool = True, max_frames: Optional[int] = None):
        self.folder = Path(folder)
        self.name = str(self.folder)
        if not self.folder.exists():
            raise InputFileError(f"Stray Scanner folder {self.folder} does not exist")
        if not is_stray_scanner_folder(self.folder):
            raise SourceError(f"{self.folder} is not a Stray Scanner export (needs rgb.mp4 and odometry.csv)")
        from arkit.io.video_source import VideoFileSource

        self.max_frames = max_frames
        self.min_confidence = int(min_confidence)
        self.load_depth = load_depth
        self.skipped_frames = 0
        self._times, ids, T = read_odometry(self.folder / "odometry.csv")
        self._pose_by_frame = {int(i): T[k] for k, i in enumerate(ids)}
        self._time_by_frame = ({int(i): float(self._times[k]) for k, i in enumerate(ids)}
                               if self._times is not None else {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the guess below is replaced by camera_matrix.csv
            probe = VideoFileSource(self.folder / "rgb.mp4")
        w, h = probe.size
        self._video_fps = probe.fps
        probe.close()
        if intrinsics is None:
            cm = self.folder / "camera_matrix.csv"
            if not cm.is_file():
                raise SourceError(f"{self.folder} has no camera_matrix.csv; pass intrinsics=")
            intrinsics = load_intrinsics(cm, w, h)  # a bare 3x3 matrix for the video's size
        K0 = resolve_intrinsics(intrinsics, w, h, what=f"video {self.folder / 'rgb.mp4'}")
        self._video_intrinsics = K0
        if resize_to is not None:
            rw, rh = int(resize_to[0]), int(resize_to[1])
            self._intrinsics = K0.scaled(rw, rh)
        else:
            self._intrinsics = K0

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._pose_by_frame)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        return self._video_fps

    def _depth(self, frame_id: int, size: tuple) -> Optional[np.ndarray]:
        import cv2

        raw = cv2.imread(str(self.folder / "depth" / f"{frame_id:06d}.png"), cv2.IMREAD_ANYDEPTH)
        if raw is None or raw.ndim != 2:
            return None
        depth = raw.astype(np.float32) / np.float32(DEPTH_SCALE)
        if self.min_confidence > 0:
            conf = cv2.imread(str(self.folder / "confidence" / f"{frame_id:06d}.png"), cv2.IMREAD_UNCHANGED)
            if conf is not None and conf.shape[:2] == depth.shape:
                depth[conf < self.min_confidence] = 0.0
        if (depth.shape[1], depth.shape[0]) != size:
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        return depth

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        from arkit.io.video_source import VideoFileSource

        self.skipped_frames = 0
        video = VideoFileSource(self.folder / "rgb.mp4", intrinsics=self._video_intrinsics)
        K = self._intrinsics
        index = 0
        try:
            for vf in video:
                if self.max_frames is not None and index >= self.max_frames:
                    break
                fid = vf.index + video.skipped_frames  # position in the video
                T = self._pose_by_frame.get(fid)
                img = vf.image_rgb
                if K.size != video.size:
                    img = cv2.resize(img, K.size, interpolation=cv2.INTER_AREA)
                depth = None
                if self.load_depth:
                    depth = self._depth(fid, K.size)
                    if depth is None:
                        self.skipped_frames += 1
                        warnings.warn(f"{self.folder}: depth/{fid:06d}.png is missing or unreadable; "
                                      f"skipping the frame", stacklevel=2)
                        continue
                t = self._time_by_frame.get(fid, vf.timestamp_s)
                yield Frame(index=index, timestamp_s=t, image_rgb=img, intrinsics=K, depth_m=depth,
                            T_world_camera_recorded=T, meta={"source": self.name, "video_frame": fid})
                index += 1
        finally:
            self.skipped_frames += video.skipped_frames
            video.close()


def _register() -> None:
    from arkit.io.sources import register_reader

    register_reader(is_stray_scanner_folder, StrayScannerSource, name="Stray Scanner")


_register()
