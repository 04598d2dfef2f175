"""Frames from a video file, decoded with PyAV.

PyAV is used rather than ``cv2.VideoCapture`` because it exposes the stream's presentation
timestamps and lets a corrupt packet in the middle of a file be skipped (with a warning) instead
of ending the stream. At 640x480 H.264 both decode at a few ms per frame (see
``benchmarks/io_video.py``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SourceError
from arkit.core.frame import Frame
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

#: Extensions :func:`arkit.io.sources.open_source` treats as video files.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp", ".ts", ".mts", ".ogv", ".h264", ".264", ".mjpeg", ".mjpg")

#: Consecutive unreadable packets after which a stream is considered unreadable.
MAX_CONSECUTIVE_ERRORS = 200


# colorimetry OpenCV's I420 -> RGB conversion implements (BT.601, limited range), which is also
# what FFmpeg assumes for untagged video; other tags go through FFmpeg's converter
_CV2_COLORSPACES = (2, 5, 6)      # AVCOL_SPC_UNSPECIFIED, BT470BG, SMPTE170M
_CV2_RANGES = (0, 1)              # AVCOL_RANGE_UNSPECIFIED, MPEG (limited)


def frame_to_rgb(vf) -> np.ndarray:
    """A decoded PyAV frame as an (H, W, 3) uint8 RGB array.

    Even-sized BT.601 limited-range yuv420p frames (most recordings) are converted by OpenCV:
    0.5-1 ms cheaper a 640x480 frame here than FFmpeg's converter, with values within a few
    levels of it."""
    if (vf.format.name == "yuv420p" and vf.width % 2 == 0 and vf.height % 2 == 0
            and vf.colorspace in _CV2_COLORSPACES and vf.color_range in _CV2_RANGES):
        import cv2

        return cv2.cvtColor(vf.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
    return vf.to_ndarray(format="rgb24")


class VideoFileSource(FrameSource):
    """Decode a video file into :class:`arkit.core.Frame` objects.

    Parameters
    ----------
    path : str or Path
        The video file.
    intrinsics : Intrinsics or str or Path, optional
        Calibration of the camera at the video's resolution, or a calibration file. When
        omitted, :meth:`Intrinsics.from_fov` guesses one from ``hfov_deg`` with a warning.
    hfov_deg : float
        Horizontal field of view used for the guess.
    max_frames : int, optional
        Stop after this many frames.

    Raises
    ------
    InputFileError
        ``path`` does not exist.
    SourceError
        The file is not a readable video (no video stream, unknown format).
    IntrinsicsError
        The intrinsics are for another image size than the video's.

    Notes
    -----
    ``timestamp_s`` is the frame's presentation time in the stream (``pts * time_base``). Some
    files carry missing or out-of-order timestamps (e.g. B-frames muxed with pts == dts). When
    the first frames show this (checked at open time), every timestamp is ``index / fps``; when
    it appears later, timestamps advance by ``1 / fps`` per frame from there on. Either way a
    warning is logged and timestamps always increase. The raw stream time is kept in
    ``frame.meta["pts_s"]``. Packets that fail to decode are skipped with a warning and counted
    in ``skipped_frames``.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], intrinsics=None, *, hfov_deg: float = 60.0,
                 max_frames: Optional[int] = None):
        self.path = Path(path)
        self.name = str(self.path)
        self.max_frames = max_frames
        self.skipped_frames = 0
        self._container = None
        if not self.path.exists():
            raise InputFileError(f"video file {self.path} does not exist; check the path")
        if not self.path.is_file():
            raise InputFileError(f"video path {self.path} is not a file")
        self._container = self._open()
        try:
            self._setup(intrinsics, hfov_deg)
        except BaseException:
            self.close()
            raise
        self._fresh = True

    def _setup(self, intrinsics, hfov_deg: float) -> None:
        stream = self._container.streams.video[0]
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if width <= 0 or height <= 0:
            width, height = self._probe_size()
        self._size = (width, height)
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        self._fps = float(rate) if rate else None
        self._num_frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
        self.codec = stream.codec_context.name
        K = resolve_intrinsics(intrinsics, width, height, what=f"video {self.path}")
        if K is None:
            K = Intrinsics.from_fov(width, height, hfov_deg, warn=False)
            warnings.warn(
                f"{self.path}: no intrinsics given; guessing a {hfov_deg:g} degree horizontal field of view "
                f"(fx=fy={K.fx:.1f} px for {width}x{height}); pass calibrated intrinsics for metric accuracy",
                stacklevel=3)
        self._intrinsics = K
        self._pts_ok = self._probe_timestamps()

    # -- FrameSource ------------------------------------------------------------------------------
    @property
    def intrinsics(self) -> Intrinsics:
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        """Frame count from the container header (None when the container does not store it)."""
        if self._num_frames is not None and self.max_frames is not None:
            return min(self._num_frames, self.max_frames)
        return self._num_frames

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    @property
    def size(self) -> tuple:
        """``(width, height)`` of the decoded frames."""
        return self._size

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - closing twice or after an error
                pass
            self._container = None

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None or not self._fresh:
            self.close()
            self._container = self._open()
            self.skipped_frames = 0
        self._fresh = False
        container = self._container
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        self._strict_errors(stream)
        index = 0
        period = 1.0 / self._fps if self._fps else 1.0
        t_prev = None
        use_pts = self._pts_ok
        for image, t_pts in self._decoded(container, stream):
            if self.max_frames is not None and index >= self.max_frames:
                break
            if (image.shape[1], image.shape[0]) != self._size:
                self._skip(f"frame after index {index - 1} is {image.shape[1]}x{image.shape[0]}, "
                           f"expected {self._size[0]}x{self._size[1]}")
                continue
            if use_pts and (t_pts is None or (t_prev is not None and t_pts <= t_prev)):
                if t_prev is not None:  # found later in the stream than the probe looked
                    log.warning("%s: stream timestamps are missing or not increasing at frame %d; "
                                "using the frame rate (%.3f s per frame) from here on", self.path, index, period)
                use_pts = False
            if use_pts:
                t = t_pts
            else:
                t = 0.0 if t_prev is None else t_prev + period
            t_prev = t
            yield Frame(index=index, timestamp_s=t, image_rgb=image, intrinsics=self._intrinsics,
                        meta={"source": self.name, "pts_s": t_pts})
            index += 1
        self.close()
        if self.skipped_frames:
            log.warning("%s: %d corrupt frame(s) were skipped", self.path, self.skipped_frames)
        expected = self._num_frames
        if expected and (self.max_frames is None or index < self.max_frames) and \
                index + self.skipped_frames < expected - 1:
            log.warning("%s: the header lists %d frames but only %d could be read (%d skipped); the file may be "
                        "truncated or damaged", self.path, expected, index, self.skipped_frames)

    # -- internals --------------------------------------------------------------------------------
    def _open(self):
        try:
            import av
        except ImportError as e:  # pragma: no cover - av is a hard dependency
            from arkit.core.errors import MissingDependencyError

            raise MissingDependencyError("reading video needs PyAV: pip install av") from e

        try:
            container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
            raise SourceError(
                f"{self.path} is not a readable video file ({e.__class__.__name__}: {e}); "
                f"check that it is a complete video in a format FFmpeg supports") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.path} has no video stream")
        return container

    def _probe_size(self) -> tuple:
        container = self._open()
        try:
            for image, _ in self._decoded(container, container.streams.video[0], count=False):
                return image.shape[1], image.shape[0]
        finally:
            container.close()
        raise SourceError(f"{self.path}: no frame could be decoded")

    @staticmethod
    def _strict_errors(stream) -> None:
        """Make intra-only decoders (MJPEG, ProRes, ...) report damaged frames instead of concealing them.

        Each packet of such a codec is a whole picture, so a damaged one can be dropped safely.
        Inter-frame codecs (H.264, ...) keep FFmpeg's error concealment: many real files carry
        minor bitstream errors that concealment handles well.
        """
        try:
            if stream.codec_context.codec.intra_only:
                stream.codec_context.options = {"err_detect": "explode"}
        except (AttributeError, ValueError):  # pragma: no cover - old PyAV
            pass

    def _probe_timestamps(self, n: int = 12) -> bool:
        """Decode the first ``n`` frames: are their stream timestamps present and increasing?"""
        container = self._open()
        times = []
        try:
            for _, t in self._decoded(container, container.streams.video[0], count=False):
                times.append(t)
                if len(times) >= n:
                    break
        finally:
            container.close()
        ok = all(t is not None for t in times) and all(b > a for a, b in zip(times, times[1:]))
        if not ok:
            log.warning("%s: stream timestamps are missing or out of order; using frame index / fps "
                        "(%s fps) as timestamps", self.path, f"{self._fps:.3f}" if self._fps else "unknown")
        return ok

    def _skip(self, why: str) -> None:
        self.skipped_frames += 1
        warnings.warn(f"{self.path}: skipping an unreadable frame ({why})", stacklevel=3)

    def _decoded(self, container, stream, count: bool = True):
        """Yield ``(image_rgb, timestamp_s or None)`` and skip packets that fail to decode."""
        import av

        packets = container.demux(stream)
        consecutive = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.EOFError:
                break
            except av.error.FFmpegError as e:
                consecutive += 1
                if count:
                    self._skip(f"demuxer error: {e}")
                if consecutive > MAX_CONSECUTIVE_ERRORS:
                    raise SourceError(f"{self.path}: too many unreadable packets in a row; the file is damaged") from None
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                consecutive += 1
                if count:
                    self._skip(f"decoder error at pts {packet.pts}: {e}")
                if consecutive > MAX_CONSECUTIVE_ERRORS:
                    raise SourceError(f"{self.path}: too many unreadable packets in a row; the file is damaged") from None
                continue
            for vf in frames:
                try:
                    image = frame_to_rgb(vf)
                except (av.error.FFmpegError, ValueError) as e:
                    if count:
                        self._skip(f"cannot convert frame at pts {vf.pts}: {e}")
                    continue
                consecutive = 0
                image = np.ascontiguousarray(image)
                image.setflags(write=False)  # a fresh buffer we own: Frame need not copy it
                yield image, (float(vf.time) if vf.time is not None else None)
