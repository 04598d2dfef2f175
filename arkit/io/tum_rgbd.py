"""Reader for TUM RGB-D benchmark folders (and arkit's synthetic recordings, same layout).

Layout::

    rgb.txt           "timestamp rgb/<file>.png" per line, '#' comments
    depth.txt         "timestamp depth/<file>.png" (optional) - uint16 PNG, metres = value / 5000
    groundtruth.txt   "timestamp tx ty tz qx qy qz qw" (optional) - camera-to-world, OpenCV axes
    intrinsics.yaml   (optional; also calibration.yaml / camera.yaml, any load_intrinsics format)

Colour and depth are associated one-to-one by nearest timestamp within ``max_dt_s`` (TUM's
``associate.py``); colour frames without depth are dropped when the folder has ``depth.txt``.
Recorded poses are interpolated at the colour timestamps (see
:func:`arkit.io.readers.pose_timeline.poses_at`) and put in ``Frame.T_world_camera_recorded``.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.intrinsics_files import load_intrinsics, resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

#: TUM's published colour-camera calibrations (640x480), chosen from the folder name.
TUM_CAMERAS = {
    "fr1": Intrinsics(640, 480, 517.3, 516.5, 318.6, 255.3, (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    "fr2": Intrinsics(640, 480, 520.9, 521.0, 325.1, 249.7, (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    "fr3": Intrinsics(640, 480, 535.4, 539.2, 320.1, 247.6),
}
#: TUM's default (ROS) calibration, used when nothing better is known.
TUM_DEFAULT = Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)
#: Intrinsics files looked for in the folder, in this order.
INTRINSICS_FILES = ("intrinsics.yaml", "intrinsics.yml", "intrinsics.json", "calibration.yaml",
                    "calibration.yml", "camera.yaml", "camera.yml")
DEPTH_SCALE = 5000.0

_FREIBURG = re.compile(r"(?:freiburg|fr)([123])(?![0-9])", re.IGNORECASE)


def is_tum_folder(path) -> bool:
    """True when ``path`` is a folder with an ``rgb.txt`` list."""
    p = Path(path)
    return p.is_dir() and (p / "rgb.txt").is_file()


def read_file_list(path) -> List[Tuple[float, str]]:
    """Read a TUM ``rgb.txt`` / ``depth.txt``: ``[(timestamp_s, relative_path), ...]`` in file order.

    Raises
    ------
    InputFileError
        Missing file or a malformed line (the message names ``file:line``).
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputFileError(f"cannot read {p}: {e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.replace(",", " ").split()
        if len(parts) < 2:
            raise InputFileError(f"{p}:{n}: expected 'timestamp file', got {s!r}")
        try:
            t = float(parts[0])
        except ValueError:
            raise InputFileError(f"{p}:{n}: timestamp {parts[0]!r} is not a number") from None
        if not np.isfinite(t):
            raise InputFileError(f"{p}:{n}: timestamp {parts[0]!r} is not finite")
        out.append((t, parts[1]))
    return out


def default_tum_intrinsics(folder) -> Tuple[Intrinsics, str]:
    """The TUM calibration for ``folder`` chosen from its name (``fr1``/``freiburg2``/...).

    Returns ``(intrinsics, label)``; falls back to :data:`TUM_DEFAULT` (label ``"default"``).
    """
    m = _FREIBURG.search(Path(folder).resolve().name)
    if m:
        key = f"fr{m.group(1)}"
        return TUM_CAMERAS[key], key
    return TUM_DEFAULT, "default"


class TumRgbdSource(FrameSource):
    """Frames (colour, depth, recorded pose) from a TUM RGB-D folder.

    Parameters
    ----------
    folder : str or Path
        Folder with ``rgb.txt`` (and optionally ``depth.txt``, ``groundtruth.txt``).
    intrinsics : Intrinsics or str or Path, optional
        Overrides the folder's calibration.
    depth_scale : float
        Raw depth units per metre (TUM: 5000).
    max_dt_s : float
        Largest colour-depth timestamp difference accepted by the association.
    pose_tolerance_s : float
        Largest distance to a recorded pose when it cannot be interpolated.
    load_depth : bool
        Read depth images (False yields colour-only frames and keeps every colour frame).
    max_frames : int, optional
        Stop after this many frames.

    Raises
    ------
    InputFileError
        The folder or ``rgb.txt`` does not exist, or a list file is malformed.
    SourceError
        ``rgb.txt`` lists no frame, or no colour image can be read.
    IntrinsicsError
        The intrinsics do not match the images' size.

    Notes
    -----
    Missing or unreadable images are skipped with a warning (``skipped_frames``).
    ``frame.meta`` holds ``rgb_file``, ``depth_file`` and ``depth_timestamp_s``.
    """

    def __init__(self, folder, intrinsics=None, *, depth_scale: float = DEPTH_SCALE, max_dt_s: float = 0.02,
                 pose_tolerance_s: float = 0.02, load_depth: bool = True, max_frames: Optional[int] = None):
        self.folder = Path(folder)
        self.name = str(self.folder)
        self.skipped_frames = 0
        self.max_frames = max_frames
        if not self.folder.exists():
            raise InputFileError(f"TUM folder {self.folder} does not exist; check the path")
        if not (self.folder / "rgb.txt").is_file():
            raise InputFileError(f"{self.folder} has no rgb.txt; it is not a TUM RGB-D folder")
        if not (depth_scale > 0):
            raise SourceError(f"depth_scale must be positive, got {depth_scale}")
        self.depth_scale = float(depth_scale)
        rgb = read_file_list(self.folder / "rgb.txt")
        if not rgb:
            raise SourceError(f"{self.folder / 'rgb.txt'} lists no frames")
        self._entries = self._associate(rgb, load_depth, max_dt_s)
        if not self._entries:
            raise SourceError(f"{self.folder}: no colour frame has a depth frame within {max_dt_s * 1000:.0f} ms")
        self._poses = self._recorded_poses(pose_tolerance_s)
        self._intrinsics = self._pick_intrinsics(intrinsics)

    # -- setup ------------------------------------------------------------------------------------
    def _associate(self, rgb, load_depth: bool, max_dt_s: float) -> list:
        depth_list = self.folder / "depth.txt"
        if not (load_depth and depth_list.is_file()):
            if load_depth:
                log.info("%s: no depth.txt; colour-only frames", self.folder)
            return [(t, f, None, None) for t, f in rgb]
        depth = read_file_list(depth_list)
        from arkit.eval.trajectory import associate

        i_rgb, i_depth = associate([t for t, _ in rgb], [t for t, _ in depth], max_diff_s=max_dt_s)
        dropped = len(rgb) - len(i_rgb)
        if dropped:
            log.info("%s: %d colour frames have no depth within %.0f ms and are dropped",
                     self.folder, dropped, max_dt_s * 1000)
        return [(rgb[i][0], rgb[i][1], depth[j][0], depth[j][1]) for i, j in zip(i_rgb, i_depth)]

    def _recorded_poses(self, tolerance_s: float) -> list:
        gt = self.folder / "groundtruth.txt"
        if not gt.is_file():
            return [None] * len(self._entries)
        from arkit.io.readers.pose_timeline import poses_at
        from arkit.io.trajectory_formats import read_tum

        traj = read_tum(gt)
        poses = poses_at(traj.timestamps_s, traj.T_world_camera, [e[0] for e in self._entries], tolerance_s)
        missing = sum(p is None for p in poses)
        if missing:
            log.info("%s: %d of %d frames have no recorded pose within %.0f ms", self.folder, missing,
                     len(poses), tolerance_s * 1000)
        return poses

    def _first_size(self) -> Optional[tuple]:
        import cv2

        for _, f, _, _ in self._entries[:50]:
            img = cv2.imread(str(self.folder / f), cv2.IMREAD_UNCHANGED)
            if img is not None:
                return img.shape[1], img.shape[0]
        return None

    def _pick_intrinsics(self, intrinsics) -> Intrinsics:
        size = self._first_size()
        if size is None:
            raise SourceError(f"{self.folder}: none of the first colour images listed in rgb.txt can be read")
        w, h = size
        if intrinsics is not None:
            return resolve_intrinsics(intrinsics, w, h, what=f"TUM folder {self.folder} (images)")
        for name in INTRINSICS_FILES:
            f = self.folder / name
            if f.is_file():
                return resolve_intrinsics(load_intrinsics(f, w, h), w, h, what=f"TUM folder {self.folder} (images)")
        K, label = default_tum_intrinsics(self.folder)
        if (K.width, K.height) != (w, h):
            K = K.scaled(w, h)
        if label == "default":
            warnings.warn(f"{self.folder}: no intrinsics file and no fr1/fr2/fr3 in the folder name; using TUM's "
                          f"default fx=fy=525 cx=319.5 cy=239.5 - add intrinsics.yaml for accurate results",
                          stacklevel=3)
        else:
            log.info("%s: using TUM %s calibration", self.folder, label)
        return K

    # -- FrameSource ------------------------------------------------------------------------------
    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._entries)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        if len(self._entries) < 2:
            return None
        dt = np.median(np.diff([e[0] for e in self._entries]))
        return float(1.0 / dt) if dt > 0 else None

    @property
    def timestamps_s(self) -> np.ndarray:
        """(N,) float64 colour timestamps of the associated frames."""
        return np.array([e[0] for e in self._entries], dtype=np.float64)

    def read_depth(self, path) -> Optional[np.ndarray]:
        """Read a depth PNG as (H, W) float32 metres (0 = invalid), or None if unreadable."""
        import cv2

        raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
        if raw is None or raw.ndim != 2:
            return None
        if raw.dtype == np.float32:
            return np.where(np.isfinite(raw) & (raw > 0), raw, 0).astype(np.float32)
        if raw.dtype not in (np.uint16, np.uint8):
            return None
        depth = raw.astype(np.float32)
        depth /= np.float32(self.depth_scale)   # in place: the values of raw / scale without a second array
        return depth

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        self.skipped_frames = 0
        K = self._intrinsics
        read_flag = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)
        index = 0
        for (t, rgb_file, t_depth, depth_file), T in zip(self._entries, self._poses):
            if self.max_frames is not None and index >= self.max_frames:
                break
            rgb_path = self.folder / rgb_file
            img = cv2.imread(str(rgb_path), read_flag)   # RGB already when cv2 can (OpenCV >= 5)
            if img is None:
                self._skip(f"colour image {rgb_path} is missing or unreadable")
                continue
            if (img.shape[1], img.shape[0]) != K.size:
                self._skip(f"colour image {rgb_path} is {img.shape[1]}x{img.shape[0]}, expected {K.width}x{K.height}")
                continue
            depth = None
            if depth_file is not None:
                depth = self.read_depth(self.folder / depth_file)
                if depth is None:
                    self._skip(f"depth image {self.folder / depth_file} is missing or not a 16-bit single-channel image")
                    continue
                if depth.shape != img.shape[:2]:
                    self._skip(f"depth image {self.folder / depth_file} is {depth.shape[1]}x{depth.shape[0]} but the "
                               f"colour image is {img.shape[1]}x{img.shape[0]}")
                    continue
            rgb = img if read_flag != cv2.IMREAD_COLOR else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            rgb.setflags(write=False)  # fresh buffers: Frame need not copy them
            if depth is not None:
                depth.setflags(write=False)
            yield Frame(index=index, timestamp_s=t, image_rgb=rgb, intrinsics=K, depth_m=depth,
                        T_world_camera_recorded=T,
                        meta={"source": self.name, "rgb_file": rgb_file, "depth_file": depth_file,
                              "depth_timestamp_s": t_depth})
            index += 1
