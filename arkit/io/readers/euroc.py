"""Reader for EuRoC MAV / ASL-format recordings (one camera of the rig).

Layout (``<seq>/mav0/`` or the ``mav0`` folder itself)::

    cam0/data.csv        "#timestamp [ns],filename" then "1403636579763555584,1403636579763555584.png"
    cam0/data/*.png      8-bit images (grayscale in EuRoC)
    cam0/sensor.yaml     intrinsics [fu, fv, cu, cv], resolution [w, h], distortion, and T_BS:
                         the camera-to-body transform (p_body = T_BS @ p_camera)
    state_groundtruth_estimate0/data.csv   (optional) body pose in the world, ns, xyz, quat wxyz

Recorded poses are camera-to-world, ``T_world_camera = T_world_body @ T_body_camera``, looked up
at the image timestamps (interpolated within ``pose_tolerance_s``). Images are raw (distorted);
the distortion is in the intrinsics.
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
from arkit.io.intrinsics_files import load_intrinsics, resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

GROUND_TRUTH_DIRS = ("state_groundtruth_estimate0", "groundtruth", "vicon0", "leica0")


def _mav_root(path) -> Optional[Path]:
    p = Path(path)
    if not p.is_dir():
        return None
    if (p / "mav0").is_dir():
        p = p / "mav0"
    return p if (p / "cam0" / "data.csv").is_file() else None


def is_euroc_folder(path) -> bool:
    """True for a EuRoC sequence folder (with ``mav0/cam0/data.csv``) or its ``mav0`` folder."""
    return _mav_root(path) is not None


def read_T_BS(sensor_yaml) -> np.ndarray:
    """The (4, 4) sensor-to-body transform ``T_BS`` of a EuRoC ``sensor.yaml`` (identity if absent)."""
    import yaml

    p = Path(sensor_yaml)
    try:
        d = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise InputFileError(f"cannot read {p}: {e}") from None
    T = (d or {}).get("T_BS")
    if T is None:
        return np.eye(4)
    data = T.get("data") if isinstance(T, dict) else T
    try:
        M = np.asarray(data, dtype=np.float64).reshape(4, 4)
    except (TypeError, ValueError):
        raise InputFileError(f"{p}: T_BS must be 16 numbers (a 4x4 matrix), got {data!r}") from None
    return M


class EurocSource(FrameSource):
    """Frames of one camera of a EuRoC MAV recording.

    Parameters
    ----------
    path : str or Path
        The sequence folder (holding ``mav0``) or the ``mav0`` folder.
    intrinsics : Intrinsics or str or Path, optional
        Overrides the camera's ``sensor.yaml``.
    camera : str
        ``"cam0"`` (left, default) or ``"cam1"``.
    pose_tolerance_s : float
        Largest distance to a ground-truth sample when a pose cannot be interpolated.
    max_frames : int, optional
        Stop after this many frames.

    Notes
    -----
    ``frame.meta["T_body_camera"]`` holds the extrinsics applied to the ground truth.
    """

    def __init__(self, path, intrinsics=None, *, camera: str = "cam0", pose_tolerance_s: float = 0.02,
                 max_frames: Optional[int] = None):
        root = _mav_root(path)
        if root is None:
            if not Path(path).exists():
                raise InputFileError(f"EuRoC folder {path} does not exist")
            raise SourceError(f"{path} is not a EuRoC folder (no mav0/cam0/data.csv)")
        self.root = root
        self.cam_dir = root / camera
        self.name = f"{path}:{camera}"
        self.max_frames = max_frames
        self.skipped_frames = 0
        if not (self.cam_dir / "data.csv").is_file():
            raise SourceError(f"{self.cam_dir / 'data.csv'} does not exist (camera '{camera}' not in the recording)")
        self._rows = self._read_image_list(self.cam_dir / "data.csv")
        if not self._rows:
            raise SourceError(f"{self.cam_dir / 'data.csv'} lists no images")
        sensor = self.cam_dir / "sensor.yaml"
        self.T_body_camera = read_T_BS(sensor) if sensor.is_file() else np.eye(4)
        size = self._first_size()
        if intrinsics is None:
            if not sensor.is_file():
                raise SourceError(f"{self.cam_dir} has no sensor.yaml; pass intrinsics=")
            intrinsics = load_intrinsics(sensor)
        self._intrinsics = resolve_intrinsics(intrinsics, *size, what=f"EuRoC images in {self.cam_dir}")
        self._poses = self._ground_truth(pose_tolerance_s)

    @staticmethod
    def _read_image_list(csv_path: Path) -> list:
        rows = []
        for n, line in enumerate(csv_path.read_text().splitlines(), 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = [x.strip() for x in s.split(",")]
            if len(parts) < 2:
                raise InputFileError(f"{csv_path}:{n}: expected 'timestamp_ns,filename', got {s!r}")
            try:
                ns = int(parts[0])
            except ValueError:
                raise InputFileError(f"{csv_path}:{n}: timestamp {parts[0]!r} is not integer nanoseconds") from None
            sec, rem = divmod(ns, 1_000_000_000)
            rows.append((float(sec) + rem / 1e9, parts[1]))
        return rows

    def _first_size(self) -> tuple:
        import cv2

        for _, f in self._rows[:50]:
            img = cv2.imread(str(self.cam_dir / "data" / f), cv2.IMREAD_UNCHANGED)
            if img is not None:
                return img.shape[1], img.shape[0]
        raise SourceError(f"{self.cam_dir / 'data'}: none of the first images listed in data.csv can be read")

    def _ground_truth(self, tolerance_s: float) -> list:
        for d in GROUND_TRUTH_DIRS:
            f = self.root / d / "data.csv"
            if f.is_file():
                break
        else:
            return [None] * len(self._rows)
        from arkit.io.readers.pose_timeline import poses_at
        from arkit.io.trajectory_formats import read_euroc

        if d in ("vicon0", "leica0"):
            log.warning("%s: using %s as ground truth; it tracks a marker, not the body frame", self.root, d)
        traj = read_euroc(f)
        T_world_body = poses_at(traj.timestamps_s, traj.T_world_camera, [t for t, _ in self._rows], tolerance_s)
        return [None if T is None else T @ self.T_body_camera for T in T_world_body]

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._rows)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        if len(self._rows) < 2:
            return None
        dt = float(np.median(np.diff([t for t, _ in self._rows])))
        return 1.0 / dt if dt > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        from arkit.io.image_folder_source import read_image_rgb

        self.skipped_frames = 0
        index = 0
        for (t, f), T in zip(self._rows, self._poses):
            if self.max_frames is not None and index >= self.max_frames:
                break
            path = self.cam_dir / "data" / f
            img = read_image_rgb(path)
            if img is None or (img.shape[1], img.shape[0]) != self._intrinsics.size:
                self.skipped_frames += 1
                warnings.warn(f"{path}: missing, unreadable or of the wrong size; skipping the frame", stacklevel=2)
                continue
            img.setflags(write=False)
            yield Frame(index=index, timestamp_s=t, image_rgb=img, intrinsics=self._intrinsics,
                        T_world_camera_recorded=T,
                        meta={"source": self.name, "file": f, "T_body_camera": self.T_body_camera})
            index += 1


def _register() -> None:
    from arkit.io.sources import register_reader

    register_reader(is_euroc_folder, EurocSource, name="EuRoC MAV")


_register()
