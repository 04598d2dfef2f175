"""Live frames from a camera device through ``cv2.VideoCapture``."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import SourceError
from arkit.core.frame import Frame
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

#: Failed reads in a row after which the device is considered gone.
MAX_CONSECUTIVE_FAILURES = 30


class WebcamSource(FrameSource):
    """Frames from a webcam, timestamped with ``time.monotonic()``.

    Parameters
    ----------
    index : int
        Device index (``0`` is usually the built-in camera; ``/dev/videoN`` on Linux).
    intrinsics : Intrinsics or str or Path, optional
        Calibration at the capture resolution, or a calibration file. When omitted, a 60 degree
        horizontal field of view is guessed with a warning.
    width, height : int, optional
        Requested capture size; the device may choose another, which is what the frames (and
        the intrinsics check) use.
    max_frames : int, optional
        Stop after this many frames (live streams are endless otherwise).
    hfov_deg : float
        Field of view used for the guess.

    Raises
    ------
    SourceError
        The device cannot be opened or delivers no frame.
    IntrinsicsError
        The intrinsics are for another size than the device delivers.
    """

    def __init__(self, index: int = 0, intrinsics=None, width: Optional[int] = None,
                 height: Optional[int] = None, *, max_frames: Optional[int] = None, hfov_deg: float = 60.0):
        import cv2

        try:
            self.index = int(index)
        except (TypeError, ValueError):
            raise SourceError(f"webcam index must be an integer, got {index!r}") from None
        self.name = f"webcam:{self.index}"
        self.max_frames = max_frames
        self.skipped_frames = 0
        if self.index < 0:
            raise SourceError(f"webcam index must be >= 0, got {self.index}")
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"cannot open webcam {self.index}: no such device or it is in use by another program; "
                f"check the index (0, 1, ...) and camera permissions")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        ok, bgr = cap.read()
        if not ok or bgr is None:
            cap.release()
            raise SourceError(f"webcam {self.index} opened but delivered no frame")
        self._cap = cap
        self._first = bgr
        h, w = bgr.shape[:2]
        if width and height and (w, h) != (int(width), int(height)):
            log.warning("webcam %d: requested %dx%d, the device delivers %dx%d", self.index, width, height, w, h)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if fps and fps > 0 else None
        try:
            K = resolve_intrinsics(intrinsics, w, h, what=f"webcam {self.index} image")
        except BaseException:
            self.close()
            raise
        if K is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                K = Intrinsics.from_fov(w, h, hfov_deg, warn=False)
            warnings.warn(f"webcam {self.index}: no intrinsics given; guessing a {hfov_deg:g} degree field of view "
                          f"(fx=fy={K.fx:.1f} px for {w}x{h}); calibrate the camera for metric accuracy", stacklevel=2)
        self._intrinsics = K

    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def close(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        if self._cap is None:
            raise SourceError(f"{self.name} is closed; create a new WebcamSource")
        index = 0
        failures = 0
        while self.max_frames is None or index < self.max_frames:
            if self._first is not None:
                bgr, self._first = self._first, None
                ok = True
            else:
                ok, bgr = self._cap.read()
            t = time.monotonic()
            if not ok or bgr is None:
                failures += 1
                self.skipped_frames += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    log.warning("%s: %d failed reads in a row; stopping", self.name, failures)
                    break
                continue
            failures = 0
            if (bgr.shape[1], bgr.shape[0]) != self._intrinsics.size:
                self.skipped_frames += 1
                log.warning("%s: frame size changed to %dx%d; skipping", self.name, bgr.shape[1], bgr.shape[0])
                continue
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB if bgr.ndim == 2 else cv2.COLOR_BGR2RGB))
            rgb.setflags(write=False)  # fresh buffer: Frame need not copy it
            yield Frame(index=index, timestamp_s=t, image_rgb=rgb,
                        intrinsics=self._intrinsics, meta={"source": self.name})
            index += 1
        self.close()
