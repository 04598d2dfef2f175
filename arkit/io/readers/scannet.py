"""Reader for ScanNet scenes exported by ScanNet's ``SensReader`` (``reader.py --export_*``).

Layout (one folder per scene, e.g. ``scene0000_00/``)::

    color/0.jpg ...                 colour images (1296x968 in ScanNet v2)
    depth/0.png ...                 uint16 depth in millimetres (640x480), 0 = invalid
    pose/0.txt ...                  4x4 camera-to-world matrix (OpenCV camera axes, metres);
                                    (depth and pose files share the colour file's stem, so
                                    zero-padded names such as 000000.jpg work too)
                                    frames the reconstruction lost hold ``-inf`` rows
    intrinsic/intrinsic_color.txt   4x4 (or 3x3) camera matrix of the colour images
    intrinsic/intrinsic_depth.txt   4x4 (or 3x3) camera matrix of the depth images

ScanNet's poses already follow arkit's convention (camera-to-world, x right, y down, z forward:
ScanNet back-projects depth pixels with ``K_depth^-1`` and applies the pose), so
:func:`scannet_pose_to_T_world_camera` only validates them; an invalid (non-finite) pose gives a
frame without ``T_world_camera_recorded`` and one warning per pass.

Depth is registered to the colour image with :func:`register_depth_by_intrinsics`: each colour
pixel takes the depth pixel its ray hits under the depth intrinsics (nearest neighbour). This is
exact only when the depth and colour cameras share their centre and orientation (ScanNet's
exported depth is treated that way by ScanNet itself; the real sensors are a few cm apart, so
depth edges can be off by a few colour pixels). The export has no timestamps: frame ``i`` gets
``i / fps`` (ScanNet records at 30 Hz).
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

DEPTH_SCALE = 1000.0
FPS = 30.0
#: A median valid depth above this (metres) means the depth scale is probably wrong.
IMPLAUSIBLE_DEPTH_M = 20.0
_NUMBERED = re.compile(r"^(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


def is_scannet_export(path) -> bool:
    """True for a folder with ``color/`` and ``intrinsic/intrinsic_color.txt`` (a SensReader export)."""
    p = Path(path)
    return p.is_dir() and (p / "color").is_dir() and (p / "intrinsic" / "intrinsic_color.txt").is_file()


def read_scannet_matrix(path, what: str = "matrix") -> np.ndarray:
    """Read a whitespace-separated 4x4 (or 3x3) text matrix as float64.

    Raises
    ------
    InputFileError
        Missing file, non-numeric values or another shape (the message names the file).
    """
    p = Path(path)
    try:
        rows = [line.split() for line in p.read_text().splitlines() if line.strip()]
        M = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
    except OSError as e:
        raise InputFileError(f"cannot read the {what} {p}: {e}") from None
    except ValueError as e:
        raise InputFileError(f"{p}: the {what} holds a value that is not a number ({e})") from None
    if M.ndim != 2 or M.shape not in ((4, 4), (3, 3), (3, 4)):
        raise InputFileError(f"{p}: expected a 4x4 or 3x3 {what}, got {len(rows)} rows of "
                             f"{sorted({len(r) for r in rows})} values")
    return M


def intrinsics_from_scannet(path, width: int, height: int) -> Intrinsics:
    """Intrinsics from a ScanNet ``intrinsic_*.txt`` (4x4 or 3x3; the top-left 3x3 is K)."""
    M = read_scannet_matrix(path, "camera matrix")
    if not np.all(np.isfinite(M[:3, :3])):
        raise InputFileError(f"{path}: the camera matrix has non-finite values")
    return Intrinsics.from_matrix(M[:3, :3], width, height)


def scannet_pose_to_T_world_camera(M) -> Optional[np.ndarray]:
    """Convert one ScanNet ``pose/<i>.txt`` matrix to arkit's ``T_world_camera``.

    ScanNet poses are camera-to-world with OpenCV camera axes, so a valid pose is returned as
    it is (float64, (4, 4)). ScanNet marks frames without a pose with ``-inf`` (or NaN)
    entries: those give None.

    Parameters
    ----------
    M : (4, 4) array_like

    Returns
    -------
    (4, 4) float64 or None
    """
    M = np.asarray(M, dtype=np.float64)
    if M.shape == (3, 4):
        M = np.vstack([M, [0.0, 0.0, 0.0, 1.0]])
    if M.shape != (4, 4) or not np.all(np.isfinite(M)):
        return None
    return M.copy()


def register_depth_by_intrinsics(depth_m: np.ndarray, K_depth: Intrinsics, K_color: Intrinsics) -> np.ndarray:
    """Resample a depth map onto the colour image's pixel grid (nearest neighbour).

    Colour pixel ``(u, v)`` takes the depth pixel at ``u_d = fx_d (u - cx_c) / fx_c + cx_d`` (and
    likewise ``v_d``), rounded; pixels outside the depth image get 0. Exact only when both
    cameras have the same centre and orientation (the same camera at two resolutions, as in
    ARKit and Record3D, or depth already registered to the colour viewpoint); lens distortion
    is ignored. Values are never interpolated, so depth edges stay sharp.

    Parameters
    ----------
    depth_m : (h, w) float32
        Depth in metres, 0 = invalid, of size ``K_depth.size``.
    K_depth, K_color : Intrinsics

    Returns
    -------
    (H, W) float32
        Depth at ``K_color.size``.
    """
    import cv2

    d = np.asarray(depth_m, dtype=np.float32)
    if (d.shape[1], d.shape[0]) == K_color.size and K_depth == K_color:
        return d
    map_x, map_y = _depth_maps(K_depth.undistorted(), K_color.undistorted())
    return cv2.remap(d, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


@functools.lru_cache(maxsize=8)
def _depth_maps(K_depth: Intrinsics, K_color: Intrinsics) -> tuple:
    """Cached ``cv2.remap`` tables (read-only (H, W) float32) of :func:`register_depth_by_intrinsics`."""
    W, H = K_color.size
    mx = K_depth.fx * (np.arange(W, dtype=np.float64) - K_color.cx) / K_color.fx + K_depth.cx
    my = K_depth.fy * (np.arange(H, dtype=np.float64) - K_color.cy) / K_color.fy + K_depth.cy
    map_x = np.ascontiguousarray(np.broadcast_to(np.round(mx).astype(np.float32)[None, :], (H, W)))
    map_y = np.ascontiguousarray(np.broadcast_to(np.round(my).astype(np.float32)[:, None], (H, W)))
    map_x.setflags(write=False)
    map_y.setflags(write=False)
    return map_x, map_y


class DepthScaleCheck:
    """Spots a wrong depth scale (e.g. millimetres read as metres) from the first frame with depth.

    Call it on every depth map: it looks at the first one holding valid depth (every 4th pixel)
    and returns its median in metres when that exceeds :data:`IMPLAUSIBLE_DEPTH_M`, else None;
    later calls return None at no cost.
    """

    def __init__(self):
        self.done = False

    def __call__(self, depth_m: np.ndarray) -> Optional[float]:
        if self.done:
            return None
        sample = depth_m[::4, ::4]
        valid = sample[sample > 0]
        if valid.size == 0:
            return None
        self.done = True
        med = float(np.median(valid))
        return med if med > IMPLAUSIBLE_DEPTH_M else None


class ScanNetSource(FrameSource):
    """Colour, registered depth and camera poses of a ScanNet ``SensReader`` export.

    Parameters
    ----------
    folder : str or Path
        The scene folder (see the module docstring for its layout).
    intrinsics : Intrinsics or str or Path, optional
        Overrides ``intrinsic/intrinsic_color.txt`` (must match the colour images' size).
    depth_scale : float
        Raw depth units per metre (ScanNet: 1000, millimetres).
    load_depth : bool
        Read ``depth/<i>.png`` and register it to the colour image.
    fps : float
        Timestamps are ``i / fps`` (the export stores none).
    max_frames : int, optional
        Stop after this many frames.

    Raises
    ------
    InputFileError
        The folder does not exist, or an intrinsics file is malformed (the message names it).
    SourceError
        ``color/`` holds no numbered images, or ``intrinsic_depth.txt`` is missing while depth
        is wanted.

    Notes
    -----
    Unreadable colour images and unreadable or non-16-bit depth images skip the frame with a
    warning (``skipped_frames``); a missing or malformed pose file gives a frame without a pose
    and a warning. ``frame.meta`` holds ``file`` (the colour file) and ``frame_number``.
    """

    def __init__(self, folder, intrinsics=None, *, depth_scale: float = DEPTH_SCALE, load_depth: bool = True,
                 fps: float = FPS, max_frames: Optional[int] = None):
        self.folder = Path(folder)
        self.name = str(self.folder)
        if not self.folder.exists():
            raise InputFileError(f"ScanNet folder {self.folder} does not exist; check the path")
        if not is_scannet_export(self.folder):
            raise SourceError(f"{self.folder} is not a ScanNet export (needs color/ and "
                              f"intrinsic/intrinsic_color.txt, as written by SensReader)")
        if not (depth_scale > 0):
            raise SourceError(f"depth_scale must be positive, got {depth_scale}")
        self.depth_scale = float(depth_scale)
        self.load_depth = load_depth
        self.max_frames = max_frames
        self._fps = float(fps)
        self.skipped_frames = 0
        entries = []
        for f in (self.folder / "color").iterdir():
            m = _NUMBERED.match(f.name)
            if m:
                entries.append((int(m.group(1)), f))
        if not entries:
            raise SourceError(f"{self.folder / 'color'} holds no numbered images (0.jpg, 1.jpg, ...)")
        self._entries = sorted(entries)
        size = self._first_size()
        if intrinsics is None:
            self._intrinsics = intrinsics_from_scannet(self.folder / "intrinsic" / "intrinsic_color.txt", *size)
        else:
            self._intrinsics = resolve_intrinsics(intrinsics, *size, what=f"colour images of {self.folder}")
        self._depth_matrix = None
        if load_depth:
            kd = self.folder / "intrinsic" / "intrinsic_depth.txt"
            if not kd.is_file():
                raise SourceError(f"{kd} is missing; it is needed to register depth (or pass load_depth=False)")
            self._depth_matrix = read_scannet_matrix(kd, "depth camera matrix")[:3, :3]
            if not (self.folder / "depth").is_dir():
                raise SourceError(f"{self.folder / 'depth'} does not exist; export depth with SensReader "
                                  f"(--export_depth_images) or pass load_depth=False")
        self._has_poses = (self.folder / "pose").is_dir()
        if not self._has_poses:
            log.info("%s has no pose/ folder; frames have no recorded pose", self.folder)

    def _first_size(self) -> tuple:
        import cv2

        for _, f in self._entries[:50]:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is not None:
                return img.shape[1], img.shape[0]
        raise SourceError(f"{self.folder / 'color'}: none of the first colour images can be read")

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._entries)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def _read_depth(self, stem: str) -> tuple:
        """``(depth at colour size or None, problem or None)``."""
        import cv2

        path = self.folder / "depth" / f"{stem}.png"
        raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH) if path.is_file() else None
        if raw is None:
            return None, f"depth image {path} is missing or unreadable"
        if raw.ndim != 2 or raw.dtype != np.uint16:
            return None, (f"depth image {path} is {raw.dtype} with shape {raw.shape}; ScanNet depth must be "
                          f"single-channel uint16 millimetres")
        depth = raw.astype(np.float32) / np.float32(self.depth_scale)
        K_depth = Intrinsics.from_matrix(self._depth_matrix, raw.shape[1], raw.shape[0])
        return register_depth_by_intrinsics(depth, K_depth, self._intrinsics), None

    def _read_pose(self, stem: str) -> tuple:
        """``(T_world_camera or None, problem or None, invalid)``."""
        if not self._has_poses:
            return None, None, False
        path = self.folder / "pose" / f"{stem}.txt"
        if not path.is_file():
            return None, f"{path} is missing", False
        try:
            M = read_scannet_matrix(path, "pose")
        except InputFileError as e:
            return None, str(e), False
        T = scannet_pose_to_T_world_camera(M)
        return T, None, T is None

    def __iter__(self) -> Iterator[Frame]:
        from arkit.io.image_folder_source import read_image_rgb

        self.skipped_frames = 0
        K = self._intrinsics
        invalid_poses, index = 0, 0
        scale_check = DepthScaleCheck()
        for number, color_path in self._entries:
            if self.max_frames is not None and index >= self.max_frames:
                break
            img = read_image_rgb(color_path)
            if img is None or (img.shape[1], img.shape[0]) != K.size:
                self._skip(f"colour image {color_path} is missing, unreadable or not {K.width}x{K.height}")
                continue
            depth = None
            if self.load_depth:
                depth, problem = self._read_depth(color_path.stem)
                if depth is None:
                    self._skip(problem)
                    continue
                med = scale_check(depth)
                if med is not None:
                    warnings.warn(f"{self.folder}: median depth {med:.1f} m is implausible for an indoor scan; "
                                  f"is depth_scale={self.depth_scale:g} right?", stacklevel=2)
            T, problem, invalid = self._read_pose(color_path.stem)
            if problem is not None:
                warnings.warn(f"{problem}; the frame has no recorded pose", stacklevel=2)
            if invalid:
                invalid_poses += 1
                if invalid_poses == 1:
                    warnings.warn(f"{self.folder / 'pose' / f'{color_path.stem}.txt'} holds an invalid (-inf) pose; frames "
                                  f"with invalid poses get no recorded pose (warned once)", stacklevel=2)
            yield Frame(index=index, timestamp_s=number / self._fps, image_rgb=img, intrinsics=K, depth_m=depth,
                        T_world_camera_recorded=T,
                        meta={"source": self.name, "file": color_path.name, "frame_number": number})
            index += 1
        if invalid_poses:
            log.info("%s: %d frames have invalid poses", self.folder, invalid_poses)


def _probe(uri) -> bool:
    try:
        return is_scannet_export(uri)
    except (OSError, TypeError, ValueError):
        return False


def _register() -> None:
    from arkit.io.sources import register_reader

    register_reader(_probe, ScanNetSource, name="ScanNet export (color/, depth/, pose/, intrinsic/)")


_register()
