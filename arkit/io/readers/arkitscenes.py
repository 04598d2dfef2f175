"""Reader for ARKitScenes raw / 3DOD scans (the low-resolution wide-camera stream).

Layout (``<video_id>/<video_id>_frames/``, as downloaded by ARKitScenes' ``download_data.py``)::

    lowres_wide/<video_id>_<t>.png             RGB, 256x192 (``t`` = timestamp in s, 3 decimals)
    lowres_depth/<video_id>_<t>.png            uint16 depth in millimetres, registered to lowres_wide
    confidence/<video_id>_<t>.png              (optional) uint8 ARKit confidence 0 (low) .. 2 (high)
    lowres_wide_intrinsics/<video_id>_<t>.pincam   one line: ``width height fx fy cx cy``
    lowres_wide.traj                           one line per pose: ``t rx ry rz tx ty tz``

Pose convention (ARKitScenes ``DATA.md`` and ``threedod/benchmark_scripts/utils/
tenFpsDataLoader.py``, ``TrajStringToMatrix``): columns 2-4 are an axis-angle rotation (radians)
and columns 5-7 a translation (metres) that together form the **world-to-camera** transform
``[R | t]`` (named ``r_w_to_p``/``t_w_to_p`` there); the loader inverts it to get the
camera-to-world pose and applies it to points back-projected with ``K^-1 (u d, v d, d)``, i.e.
the camera axes are OpenCV's (x right, y down, z forward). So
:func:`arkitscenes_traj_to_T_world_camera` returns ``inverse([R(rotvec) | t])`` with no axis change.

Poses are looked up at the image timestamps (the official loader matches within 5 ms); a frame
between two trajectory samples at most ``max_pose_gap_s`` apart gets the pose interpolated
between them. Depth pixels whose confidence is below ``min_confidence`` are set to 0, and the
confidence map (resized to the colour image, nearest neighbour) is in
``frame.meta["confidence"]``. When depth and colour sizes differ, depth is resampled with
:func:`arkit.io.readers.scannet.register_depth_by_intrinsics` (same camera, so exact up to the
nearest-neighbour rounding).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, SourceError
from arkit.core.frame import Frame
from arkit.core.pose import invert, rotvec_to_matrix
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

DEPTH_SCALE = 1000.0
COLOR_DIR = "lowres_wide"
DEPTH_DIR = "lowres_depth"
CONFIDENCE_DIR = "confidence"
INTRINSICS_DIR = "lowres_wide_intrinsics"
TRAJ_FILE = "lowres_wide.traj"


def _frames_dir(path) -> Optional[Path]:
    p = Path(path)
    if not p.is_dir():
        return None
    if not (p / COLOR_DIR).is_dir():
        inner = p / f"{p.name}_frames"
        if not inner.is_dir():
            return None
        p = inner
    return p if (p / COLOR_DIR).is_dir() and (p / INTRINSICS_DIR).is_dir() else None


def is_arkitscenes_folder(path) -> bool:
    """True for a ``<video_id>_frames`` folder (with ``lowres_wide/`` and ``lowres_wide_intrinsics/``)
    or the ``<video_id>`` folder holding one."""
    return _frames_dir(path) is not None


def frame_timestamp(name: str) -> float:
    """Timestamp in seconds from an ARKitScenes file name ``<video_id>_<t>.png`` (or ``.pincam``)."""
    stem = name.rsplit(".", 1)[0] if name.endswith((".png", ".pincam", ".jpg")) else name
    try:
        return float(stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        raise InputFileError(f"{name}: expected '<video_id>_<timestamp>.png'") from None


def arkitscenes_traj_to_T_world_camera(rotvec, translation) -> np.ndarray:
    """One ``lowres_wide.traj`` pose (world-to-camera axis-angle + translation) to ``T_world_camera``.

    Parameters
    ----------
    rotvec : (3,) float
        Axis-angle rotation in radians (columns 2-4 of the line).
    translation : (3,) float
        Translation in metres (columns 5-7).

    Returns
    -------
    (4, 4) float64
        Camera-to-world with OpenCV camera axes: ``invert([R(rotvec) | translation])``.
    """
    T_camera_world = np.eye(4)
    T_camera_world[:3, :3] = rotvec_to_matrix(np.asarray(rotvec, dtype=np.float64).reshape(3))
    T_camera_world[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return invert(T_camera_world)


def read_arkitscenes_traj(path) -> tuple:
    """Parse ``lowres_wide.traj``.

    Returns
    -------
    timestamps_s : (N,) float64
    T_world_camera : (N, 4, 4) float64
        Camera-to-world, OpenCV camera axes.

    Raises
    ------
    InputFileError
        Missing file, or a line without 7 numbers (the message names ``file:line``).
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as e:
        raise InputFileError(f"cannot read {p}: {e}") from None
    ts, Ts = [], []
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        try:
            vals = [float(v) for v in parts]
        except ValueError:
            raise InputFileError(f"{p}:{n}: a value is not a number: {s[:80]!r}") from None
        if len(vals) != 7 or not np.all(np.isfinite(vals)):
            raise InputFileError(f"{p}:{n}: expected 7 finite numbers 'timestamp rx ry rz tx ty tz', "
                                 f"got {len(vals)}: {s[:80]!r}")
        ts.append(vals[0])
        Ts.append(arkitscenes_traj_to_T_world_camera(vals[1:4], vals[4:7]))
    if not ts:
        raise InputFileError(f"{p} holds no poses")
    return np.asarray(ts, dtype=np.float64), np.asarray(Ts, dtype=np.float64)


def read_pincam(path) -> Intrinsics:
    """Intrinsics from a ``.pincam`` file (``width height fx fy cx cy``)."""
    p = Path(path)
    try:
        vals = [float(v) for v in p.read_text().split()]
    except OSError as e:
        raise InputFileError(f"cannot read {p}: {e}") from None
    except ValueError:
        raise InputFileError(f"{p}: expected 'width height fx fy cx cy' numbers") from None
    if len(vals) != 6:
        raise InputFileError(f"{p}: expected 6 numbers 'width height fx fy cx cy', got {len(vals)}")
    w, h, fx, fy, cx, cy = vals
    try:
        return Intrinsics(int(round(w)), int(round(h)), fx, fy, cx, cy)
    except IntrinsicsError as e:
        raise InputFileError(f"{p}: {e}") from None


class ARKitScenesSource(FrameSource):
    """Colour, depth, confidence and ARKit poses of one ARKitScenes scan.

    Parameters
    ----------
    path : str or Path
        The ``<video_id>_frames`` folder or the ``<video_id>`` folder holding it.
    min_confidence : int
        Depth pixels with confidence below this (0, 1, 2) are set to 0; 0 keeps all.
    load_depth : bool
        Read ``lowres_depth``; frames without a depth image are then skipped with a warning.
    pose_tolerance_s, max_pose_gap_s : float
        Largest distance to the nearest trajectory sample, and largest spacing of two samples
        interpolated between (see :func:`arkit.io.readers.pose_timeline.poses_at`).
    max_frames : int, optional
        Stop after this many frames.

    Notes
    -----
    Every frame carries its own ``.pincam`` intrinsics (``intrinsics`` is the first frame's).
    ``frame.meta`` holds ``file``, ``confidence`` ((H, W) uint8, when present).
    """

    def __init__(self, path, *, min_confidence: int = 1, load_depth: bool = True,
                 pose_tolerance_s: float = 0.005, max_pose_gap_s: float = 0.12, max_frames: Optional[int] = None):
        root = _frames_dir(path)
        if root is None:
            if not Path(path).exists():
                raise InputFileError(f"ARKitScenes folder {path} does not exist; check the path")
            raise SourceError(f"{path} is not an ARKitScenes scan (needs {COLOR_DIR}/ and {INTRINSICS_DIR}/)")
        self.root = root
        self.name = str(root)
        self.min_confidence = int(min_confidence)
        self.load_depth = load_depth
        self.max_frames = max_frames
        self.skipped_frames = 0
        files = []
        for f in (root / COLOR_DIR).iterdir():
            if f.suffix.lower() == ".png":
                files.append((frame_timestamp(f.name), f))
        if not files:
            raise SourceError(f"{root / COLOR_DIR} holds no <video_id>_<timestamp>.png images")
        self._files = sorted(files)
        if load_depth and not (root / DEPTH_DIR).is_dir():
            raise SourceError(f"{root / DEPTH_DIR} does not exist; download the lowres_depth asset or pass "
                              f"load_depth=False")
        self._first_K = None
        for _, f in self._files[:20]:
            K = self._pincam(f)
            if K is not None:
                self._first_K = K
                break
        if self._first_K is None:
            raise SourceError(f"{root / INTRINSICS_DIR}: no .pincam file matches the first images of {COLOR_DIR}/")
        traj = root / TRAJ_FILE
        if traj.is_file():
            from arkit.io.readers.pose_timeline import poses_at

            t, T = read_arkitscenes_traj(traj)
            self._poses = poses_at(t, T, [tf for tf, _ in self._files], tolerance_s=pose_tolerance_s,
                                   max_gap_s=max_pose_gap_s)
        else:
            log.info("%s: no %s; frames have no recorded pose", root, TRAJ_FILE)
            self._poses = [None] * len(self._files)

    def _pincam(self, color_path: Path) -> Optional[Intrinsics]:
        d = self.root / INTRINSICS_DIR
        stem = color_path.stem
        candidates = [d / f"{stem}.pincam"]
        vid, _, ts = stem.rpartition("_")
        try:
            t = float(ts)
            candidates += [d / f"{vid}_{t - 0.001:.3f}.pincam", d / f"{vid}_{t + 0.001:.3f}.pincam"]
        except ValueError:
            pass
        for c in candidates:
            if c.is_file():
                return read_pincam(c)
        return None

    @property
    def intrinsics(self) -> Intrinsics:
        """Intrinsics of the first frame (every frame carries its own)."""
        return self._first_K

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._files)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        if len(self._files) < 2:
            return None
        dt = float(np.median(np.diff([t for t, _ in self._files])))
        return 1.0 / dt if dt > 0 else None

    def _depth(self, color_path: Path, K: Intrinsics) -> tuple:
        """``(depth (H, W) float32 or None, confidence (H, W) uint8 or None, problem or None)``."""
        import cv2

        from arkit.io.readers.scannet import register_depth_by_intrinsics

        path = self.root / DEPTH_DIR / color_path.name
        raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH) if path.is_file() else None
        if raw is None:
            return None, None, f"depth image {path} is missing or unreadable"
        if raw.ndim != 2 or raw.dtype != np.uint16:
            return None, None, f"depth image {path} is {raw.dtype} {raw.shape}; expected single-channel uint16 mm"
        depth = raw.astype(np.float32) / np.float32(DEPTH_SCALE)
        conf_path = self.root / CONFIDENCE_DIR / color_path.name
        conf = cv2.imread(str(conf_path), cv2.IMREAD_UNCHANGED) if conf_path.is_file() else None
        if conf is not None and conf.shape == depth.shape:
            if self.min_confidence > 0:
                depth[conf < self.min_confidence] = 0.0
        else:
            conf = None
        K_depth = K.scaled(depth.shape[1], depth.shape[0])
        depth = register_depth_by_intrinsics(depth, K_depth, K)
        if conf is not None and conf.shape != depth.shape:
            conf = cv2.resize(conf, K.size, interpolation=cv2.INTER_NEAREST)
        return depth, conf, None

    def __iter__(self) -> Iterator[Frame]:
        from arkit.io.image_folder_source import read_image_rgb

        from arkit.io.readers.scannet import DepthScaleCheck

        self.skipped_frames = 0
        index = 0
        scale_check = DepthScaleCheck()
        for (t, color_path), T in zip(self._files, self._poses):
            if self.max_frames is not None and index >= self.max_frames:
                break
            img = read_image_rgb(color_path)
            if img is None:
                self._skip(f"colour image {color_path} is missing or unreadable")
                continue
            try:
                K = self._pincam(color_path)
            except InputFileError as e:
                self._skip(str(e))
                continue
            if K is None:
                self._skip(f"{color_path.name} has no matching .pincam in {self.root / INTRINSICS_DIR}")
                continue
            if K.size != (img.shape[1], img.shape[0]):
                self._skip(f"{color_path} is {img.shape[1]}x{img.shape[0]} but its .pincam says {K.width}x{K.height}")
                continue
            depth = conf = None
            if self.load_depth:
                depth, conf, problem = self._depth(color_path, K)
                if depth is None:
                    self._skip(problem)
                    continue
                med = scale_check(depth)
                if med is not None:
                    warnings.warn(f"{self.root / DEPTH_DIR}: median depth {med:.1f} m is implausible; ARKitScenes "
                                  f"depth PNGs must hold millimetres", stacklevel=2)
            meta = {"source": self.name, "file": color_path.name}
            if conf is not None:
                meta["confidence"] = conf
            yield Frame(index=index, timestamp_s=t, image_rgb=img, intrinsics=K, depth_m=depth,
                        T_world_camera_recorded=T, meta=meta)
            index += 1


def _probe(uri) -> bool:
    try:
        return is_arkitscenes_folder(uri)
    except (OSError, TypeError, ValueError):
        return False


def _register() -> None:
    from arkit.io.sources import register_reader

    register_reader(_probe, ARKitScenesSource, name="ARKitScenes scan (lowres_wide/, lowres_wide.traj)")


_register()
