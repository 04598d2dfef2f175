"""Frames from a folder (or glob pattern) of image files, in natural order."""

from __future__ import annotations

import glob
import logging
import re
import warnings
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

#: File extensions read as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".webp")

_GLOB_CHARS = re.compile(r"[*?\[]")


def natural_key(path: Union[str, Path]) -> tuple:
    """Sort key that orders ``img2.png`` before ``img10.png`` (digits compared as numbers)."""
    parts = re.split(r"(\d+)", str(path))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts)


def is_glob(pattern: str) -> bool:
    """True when ``pattern`` contains glob wildcards (``*``, ``?``, ``[``)."""
    return bool(_GLOB_CHARS.search(str(pattern)))


def list_images(folder_or_glob: Union[str, Path]) -> List[Path]:
    """Image files of a folder (not recursive) or matching a glob, naturally sorted."""
    s = str(folder_or_glob)
    if is_glob(s) and not Path(s).exists():
        files = [Path(p) for p in glob.glob(s, recursive=True)]
    else:
        files = [p for p in Path(s).iterdir() if p.is_file()]
    files = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=natural_key)


def read_image_rgb(path: Union[str, Path]) -> Optional[np.ndarray]:
    """Read an image file as (H, W, 3) uint8 RGB, or None if it cannot be decoded.

    16-bit images are scaled to 8 bits; alpha is dropped; grayscale is expanded to RGB.
    """
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return None
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class ImageFolderSource(FrameSource):
    """Frames from image files sorted naturally (``2.png`` before ``10.png``).

    Parameters
    ----------
    path : str or Path or sequence of paths
        A folder, a glob pattern (``"shots/*.jpg"``) or an explicit list of image files.
    intrinsics : Intrinsics or str or Path, optional
        Calibration for the images' size, or a calibration file; guessed from ``hfov_deg``
        with a warning when omitted.
    fps : float
        Frame ``i`` of the listing gets ``timestamp_s = i / fps`` (skipped files keep their slot).
    hfov_deg : float
        Field of view for the guess.
    max_frames : int, optional
        Stop after this many frames.

    Raises
    ------
    InputFileError
        The folder does not exist.
    SourceError
        No image file matches, or none of them can be read.
    IntrinsicsError
        The intrinsics do not match the images' size.

    Notes
    -----
    Unreadable images and images whose size differs from the first one are skipped with a
    warning (counted in ``skipped_frames``).
    """

    def __init__(self, path: Union[str, Path, Sequence[Union[str, Path]]], intrinsics=None, *,
                 fps: float = 30.0, hfov_deg: float = 60.0, max_frames: Optional[int] = None):
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise SourceError(f"fps must be a positive number, got {fps!r}")
        self._fps = float(fps)
        self.max_frames = max_frames
        self.skipped_frames = 0
        if isinstance(path, (list, tuple)):
            self.files = [Path(p) for p in path]
            self.name = f"{len(self.files)} image files"
            missing = [p for p in self.files if not p.exists()]
            if missing:
                raise InputFileError(f"image file {missing[0]} does not exist ({len(missing)} missing)")
        else:
            s = str(path)
            self.name = s
            if not is_glob(s) or Path(s).exists():
                if not Path(s).exists():
                    raise InputFileError(f"image folder {s} does not exist; check the path")
                if not Path(s).is_dir():
                    raise SourceError(f"{s} is not a folder of images")
            self.files = list_images(s)
        if not self.files:
            raise SourceError(
                f"no image files found in {self.name} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        first = None
        for f in self.files:
            first = read_image_rgb(f)
            if first is not None:
                break
            warnings.warn(f"{f}: cannot read the image; skipping it", stacklevel=2)
        if first is None:
            raise SourceError(f"none of the {len(self.files)} image files in {self.name} can be read")
        h, w = first.shape[:2]
        K = resolve_intrinsics(intrinsics, w, h, what=f"images in {self.name}")
        if K is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                K = Intrinsics.from_fov(w, h, hfov_deg, warn=False)
            warnings.warn(f"{self.name}: no intrinsics given; guessing a {hfov_deg:g} degree field of view "
                          f"(fx=fy={K.fx:.1f} px for {w}x{h}); pass calibrated intrinsics for metric accuracy",
                          stacklevel=2)
        self._intrinsics = K

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        """Number of image files (an upper bound when some turn out unreadable)."""
        n = len(self.files)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def __iter__(self) -> Iterator[Frame]:
        self.skipped_frames = 0
        index = 0
        for slot, f in enumerate(self.files):
            if self.max_frames is not None and index >= self.max_frames:
                break
            img = read_image_rgb(f)
            if img is None:
                self.skipped_frames += 1
                warnings.warn(f"{f}: cannot read the image; skipping it", stacklevel=2)
                continue
            if (img.shape[1], img.shape[0]) != self._intrinsics.size:
                self.skipped_frames += 1
                warnings.warn(f"{f}: image is {img.shape[1]}x{img.shape[0]} but the sequence is "
                              f"{self._intrinsics.width}x{self._intrinsics.height}; skipping it", stacklevel=2)
                continue
            img.setflags(write=False)  # fresh buffer: Frame need not copy it
            yield Frame(index=index, timestamp_s=slot / self._fps, image_rgb=img, intrinsics=self._intrinsics,
                        meta={"source": self.name, "file": str(f)})
            index += 1
