"""Write RGB frames to an H.264 video with PyAV (cv2 cannot encode H.264 in this build).

The video is written to a hidden temporary file next to the destination and renamed over it
only by :meth:`VideoWriter.close`, so a crash never leaves a finished-looking but truncated
file behind.

>>> with VideoWriter("out.mp4", fps=30) as w:          # doctest: +SKIP
...     for result in session.run(source):
...         w.write(result.image)
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

import numpy as np

from arkit.core.errors import FrameError, InputFileError, MissingDependencyError
from arkit.io.atomic import AtomicOutput

log = logging.getLogger(__name__)

_CODECS = {"h264": "libx264", "libx264": "libx264", "avc": "libx264", "mpeg4": "mpeg4",
           "mjpeg": "mjpeg", "vp9": "libvpx-vp9", "hevc": "libx265", "h265": "libx265"}


class VideoWriter(AtomicOutput):
    """Encode RGB uint8 frames to a video file (H.264 ``.mp4`` by default).

    Parameters
    ----------
    path : str or Path
        Destination (``.mp4``, ``.mkv``, ``.mov`` or ``.avi``); its folder must exist.
    fps : float
        Frame rate; frame ``i`` gets presentation time ``i / fps``.
    codec : str
        ``"h264"`` (libx264, default), ``"mpeg4"``, ``"mjpeg"``, ``"vp9"``.
    crf : int
        Constant rate factor for H.264 (0 lossless ... 51 worst; 18 is visually lossless,
        23 is x264's default).
    preset : str
        x264 speed preset; ``"veryfast"`` by default (``"ultrafast"`` is faster, larger files).
    pix_fmt : str
        Encoded pixel format, ``"yuv420p"`` for maximum player compatibility.
    pad_odd : bool
        ``yuv420p`` needs even width and height. When True (default) odd-sized frames are
        padded by one replicated row/column (bottom/right) with a warning; when False they
        raise :class:`FrameError`.
    options : dict, optional
        Extra encoder options passed to FFmpeg (string values).

    Attributes
    ----------
    frames_written : int
        Frames encoded so far.
    size : (int, int) or None
        ``(width, height)`` of the encoded video, fixed by the first frame.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], fps: float, *, codec: str = "h264",
                 crf: int = 20, preset: str = "veryfast", pix_fmt: str = "yuv420p",
                 pad_odd: bool = True, options: Optional[dict] = None):
        try:
            import av  # noqa: F401
        except ImportError as e:  # pragma: no cover - av is a hard dependency
            raise MissingDependencyError("writing video needs PyAV: pip install av") from e
        self.path = Path(path)
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise InputFileError(f"cannot write video {self.path}: the folder {folder} does not exist")
        try:
            fps_f = float(fps)
        except (TypeError, ValueError):
            raise FrameError(f"video fps must be a positive number, got {fps!r}") from None
        if not (fps_f > 0 and np.isfinite(fps_f)):
            raise FrameError(f"video fps must be a positive number, got {fps!r}")
        if codec not in _CODECS:
            raise FrameError(f"unsupported video codec '{codec}' for {self.path}; use one of {sorted(_CODECS)}")
        if not 0 <= int(crf) <= 51:
            raise FrameError(f"crf must be in [0, 51], got {crf}")
        self.fps = fps_f
        self.codec = codec
        self.crf = int(crf)
        self.preset = preset
        self.pix_fmt = pix_fmt
        self.pad_odd = pad_odd
        self.options = dict(options or {})
        self.frames_written = 0
        self.size: Optional[tuple] = None
        self._input_size: Optional[tuple] = None
        self._container = None
        self._stream = None
        self._tmp: Optional[Path] = None
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------------
    def _open(self, width: int, height: int) -> None:
        import av

        from arkit.io.atomic import temp_path_for

        self._tmp = temp_path_for(self.path)
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except Exception as e:
            self._discard()
            raise InputFileError(f"cannot create video {self.path}: {e}") from None
        rate = Fraction(self.fps).limit_denominator(1001)
        codec_name = _CODECS[self.codec]
        try:
            stream = self._container.add_stream(codec_name, rate=rate)
        except Exception as e:
            self._discard()
            raise MissingDependencyError(f"the FFmpeg in PyAV has no '{codec_name}' encoder: {e}") from None
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pix_fmt if codec_name != "mjpeg" else "yuvj420p"
        opts = {}
        if codec_name in ("libx264", "libx265"):
            opts = {"crf": str(self.crf), "preset": self.preset}
        opts.update({str(k): str(v) for k, v in self.options.items()})
        stream.options = opts
        stream.codec_context.time_base = Fraction(1, 1) / rate
        self._stream = stream

    def write(self, image_rgb: np.ndarray) -> None:
        """Encode one frame.

        Parameters
        ----------
        image_rgb : (H, W, 3) uint8 or (H, W) uint8
            RGB (or grayscale) image; every frame must have the size of the first one.
        """
        self._encode(self._prepare(image_rgb))

    def _prepare(self, image_rgb: np.ndarray) -> np.ndarray:
        """Check one frame, open the file on the first one, and return the (H', W', 3) uint8
        array to encode (padded to an even size when needed)."""
        img = self._fit(image_rgb)
        if self._container is None:
            self._open(*self.size)
        return img

    def _fit(self, image_rgb: np.ndarray) -> np.ndarray:
        """:meth:`_prepare` without opening the file: check one frame (the first fixes the
        video's size) and return the array to encode."""
        if self._closed:
            raise FrameError(f"video writer for {self.path} is already closed")
        img = np.asarray(image_rgb)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8 or img.size == 0:
            raise FrameError(
                f"video frame {self.frames_written} for {self.path} must be (H, W, 3) uint8 RGB, "
                f"got shape {img.shape} dtype {img.dtype}")
        img = img[:, :, :3]
        h, w = img.shape[:2]
        if self._input_size is None:
            ew, eh = w + (w % 2), h + (h % 2)
            if (ew, eh) != (w, h):
                if not self.pad_odd:
                    raise FrameError(
                        f"{self.path}: {self.pix_fmt} needs an even frame size, got {w}x{h}; "
                        f"crop the frames or use pad_odd=True")
                log.warning("%s: frame size %dx%d is odd; padding to %dx%d for %s", self.path, w, h, ew, eh,
                            self.pix_fmt)
            self._input_size = (w, h)
            self.size = (ew, eh)
        elif (w, h) != self._input_size:
            raise FrameError(
                f"video frame {self.frames_written} for {self.path} is {w}x{h} but the video is "
                f"{self._input_size[0]}x{self._input_size[1]}; every frame must have the same size")
        if (w, h) != self.size:
            img = np.pad(img, ((0, self.size[1] - h), (0, self.size[0] - w), (0, 0)), mode="edge")
        return np.ascontiguousarray(img)

    def _encode(self, img: np.ndarray) -> None:
        """Encode a frame returned by :meth:`_prepare` (PyAV releases the GIL while encoding)."""
        import av

        if self._stream.pix_fmt == "yuv420p":
            # OpenCV's RGB->I420 (BT.601, limited range, as FFmpeg's default) costs 0.8 ms a
            # 640x480 frame here against about 2.5 ms for FFmpeg's converter
            import cv2

            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.frames_written
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except Exception as e:
            self.abort()
            raise InputFileError(f"encoding frame {self.frames_written} of {self.path} failed: {e}") from None
        self.frames_written += 1

    def close(self) -> Optional[Path]:
        """Flush the encoder and move the finished file into place (idempotent).

        Returns
        -------
        Path or None
            The written video, or None when no frame was written (no file is created).
        """
        if self._closed:
            return self.path if self.frames_written and self.path.exists() else None
        self._closed = True
        if self._container is None:
            log.warning("video writer for %s: no frames were written; no file created", self.path)
            return None
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except Exception as e:
            self._discard()
            raise InputFileError(f"finishing video {self.path} failed: {e}") from None
        self._container = None
        from arkit.io.atomic import commit_temp

        commit_temp(self._tmp, self.path)
        self._tmp = None
        log.info("wrote %d frames to %s", self.frames_written, self.path)
        return self.path

    def abort(self) -> None:
        """Stop without producing the file (the temporary file is removed)."""
        self._closed = True
        self._discard()

    def _discard(self) -> None:
        from arkit.io.atomic import discard_temp

        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - best effort while failing
                pass
            self._container = None
        if self._tmp is not None:
            discard_temp(self._tmp)
            self._tmp = None

    def __del__(self):
        try:
            if not self._closed and self._container is not None:
                log.warning("video writer for %s was never closed; the unfinished video was discarded "
                            "(call close() or use 'with VideoWriter(...)')", self.path)
                self._discard()
        except Exception:  # noqa: BLE001
            pass


_STOP = object()


class QueuedWriter(AtomicOutput):
    """What the background writers share: each frame is checked in the caller's thread
    (:meth:`_check`, bad frames raise there, at once) and queued for a worker thread
    (:meth:`_run`, taking items off ``self._queue`` until ``_STOP``); an error the worker leaves
    in ``self._error`` is raised by the next :meth:`write` (:meth:`_raise_error`)."""

    def _start_thread(self, queue_size: int, name: str) -> None:
        import queue
        import threading

        self._queue = queue.Queue(maxsize=max(1, int(queue_size)))
        self._error: Optional[BaseException] = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _check(self, image_rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _raise_error(self) -> None:
        raise NotImplementedError

    def write(self, image_rgb: np.ndarray) -> None:
        """Check one frame and queue it for encoding (waits while the queue is full).

        Parameters
        ----------
        image_rgb : (H, W, 3) uint8 or (H, W) uint8
        """
        if self._error is not None:
            self.abort()
            self._raise_error()
        if self._closed:
            raise FrameError(f"video writer for {self.path} is already closed")
        try:
            img = self._check(image_rgb)
        except BaseException:
            self.abort()
            raise
        if img.flags.writeable and np.may_share_memory(img, np.asarray(image_rgb)):
            img = img.copy()  # the caller may reuse its buffer
        self._queue.put(img)

    def _stop_thread(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _abort_thread(self) -> None:
        """Mark the writer closed and stop the worker, dropping the queued frames."""
        self._closed = True
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._stop_thread()


class BackgroundVideoWriter(QueuedWriter):
    """A :class:`VideoWriter` that encodes on a background thread, behind a bounded queue.

    :meth:`write` checks the frame in the calling thread (bad frames raise there, at once) and
    queues it; a worker thread converts and encodes it (PyAV releases the GIL while converting
    to YUV, encoding and muxing, and x264 runs its own threads), so encoding overlaps with the
    caller's next frame. When the queue is full, :meth:`write` waits: memory stays bounded.
    Frames are encoded in the order they are written, so the file is the same as
    :class:`VideoWriter`'s for the same frames and options.

    An error in the worker is raised by the next :meth:`write` or by :meth:`close`, in the
    caller's thread, as :class:`~arkit.core.errors.InputFileError` naming the file and the
    frame; the temporary file is then discarded, so a failed encode never leaves a
    finished-looking video.

    Parameters
    ----------
    path, fps
        As :class:`VideoWriter`.
    queue_size : int
        Frames waiting to be encoded at most (each is W*H*3 bytes).
    **writer_options
        Passed to :class:`VideoWriter` (``codec``, ``crf``, ``preset``, ``options``...).

    >>> with BackgroundVideoWriter("out.mp4", fps=30, preset="ultrafast") as w:   # doctest: +SKIP
    ...     for result in session.run(source):
    ...         w.write(result.image)

    Do not modify an array after passing it to :meth:`write` (read-only arrays, such as
    ``FrameResult.image``, are queued without a copy; writable ones are copied).
    """

    def __init__(self, path, fps: float, *, queue_size: int = 8, **writer_options):
        self._writer = VideoWriter(path, fps, **writer_options)
        self.path = self._writer.path
        self.fps = self._writer.fps
        self.encode_cpu_s = 0.0
        self._start_thread(queue_size, f"arkit-encode:{self.path.name}")

    @property
    def frames_written(self) -> int:
        """Frames encoded so far (frames still queued are not counted)."""
        return self._writer.frames_written

    @property
    def size(self):
        return self._writer.size

    def _run(self) -> None:
        import time

        t0 = time.thread_time()
        try:
            while True:
                img = self._queue.get()
                if img is _STOP:
                    return
                if self._error is not None:
                    continue  # drain after a failure; the caller sees the error
                try:
                    self._writer._encode(img)
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    self._error = e
                    self._writer.abort()
        finally:
            self.encode_cpu_s = time.thread_time() - t0

    def _raise_error(self) -> None:
        e = self._error
        if isinstance(e, InputFileError):
            raise InputFileError(f"{e} (in the background encoding thread; the video was discarded)") from e
        raise InputFileError(f"encoding {self.path} failed in the background encoding thread after "
                             f"{self._writer.frames_written} frames: {type(e).__name__}: {e}; "
                             f"the video was discarded") from e

    def _check(self, image_rgb: np.ndarray) -> np.ndarray:
        return self._writer._prepare(image_rgb)

    def close(self) -> Optional[Path]:
        """Encode the queued frames, flush, and move the finished file into place.

        Raises
        ------
        InputFileError
            When encoding failed in the worker (the temporary file is removed).
        """
        if self._closed:
            return self._writer.close()
        self._closed = True
        self._stop_thread()
        if self._error is not None:
            self._writer.abort()
            self._raise_error()
        return self._writer.close()

    def abort(self) -> None:
        """Stop without producing the file; queued frames are dropped."""
        self._abort_thread()
        self._writer.abort()

