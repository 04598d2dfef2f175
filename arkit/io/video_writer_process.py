"""Encode video in a child process: :class:`ProcessVideoWriter`.

x264 itself runs without Python's interpreter lock, but an encoding *thread* still takes the
lock a few times per frame (frame conversion, muxing), and each time it waits for the loop
thread's slice of Python work; the loop thread in turn waits when it comes back from its C
calls. A child process (:class:`arkit.core.worker_process.WorkerProcess`) has its own lock.
Frames cross a pipe (one copy, about 0.3 ms for 640x480); the child writes the file with
:class:`~arkit.io.video_writer.VideoWriter`, so the file is the same as a
:class:`~arkit.io.video_writer.VideoWriter`'s for the same frames and options, and is renamed
into place only when complete.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.errors import InputFileError
from arkit.io.video_writer import _STOP, QueuedWriter, VideoWriter

log = logging.getLogger(__name__)


class ProcessVideoWriter(QueuedWriter):
    """A :class:`~arkit.io.video_writer.VideoWriter` running in a child process.

    :meth:`write` checks the frame in the calling thread (bad frames raise there, at once) and
    queues it; a sender thread passes queued frames to the child (blocking in the pipe write,
    which does not hold the interpreter lock), keeping at most ``in_flight`` frames unanswered.
    When the queue is full, :meth:`write` waits: memory stays bounded. An error in the child
    (or its death) is raised by the next :meth:`write` or by :meth:`close` as
    :class:`~arkit.core.errors.InputFileError`; the temporary file is removed.

    Parameters
    ----------
    path, fps
        As :class:`~arkit.io.video_writer.VideoWriter`.
    queue_size : int
        Frames waiting in this process at most.
    in_flight : int
        Frames sent to the child and not yet encoded, at most.
    **writer_options
        Passed to :class:`~arkit.io.video_writer.VideoWriter` (``codec``, ``crf``, ``preset``,
        ``options``...). ``options["threads"]`` defaults to ``"1"`` here (one encoder thread).

    Attributes
    ----------
    encode_cpu_s : float
        The child's CPU seconds (set by :meth:`close`).
    """

    in_child_process = True

    def __init__(self, path, fps: float, *, queue_size: int = 8, in_flight: int = 2, **writer_options):
        # the checks of VideoWriter's constructor (folder, fps, codec, crf) run here, at once;
        # this instance only checks frames (_fit) and never opens a file
        self._checker = VideoWriter(path, fps, **writer_options)
        self.path = self._checker.path
        self.fps = self._checker.fps
        # one x264 thread: the child shares the cores with the session's own work, where x264's
        # frame threads only add CPU (measured 8.3 -> 6.7 ms a 640x480 superfast frame)
        options = dict(writer_options.get("options") or {})
        options.setdefault("threads", "1")
        self._options = {**writer_options, "options": options}
        self._in_flight = max(1, int(in_flight))
        self._tmp: Optional[str] = None
        self._worker = None
        self._shared = None
        self.frames_written = 0
        self.encode_cpu_s = 0.0
        self._start_thread(queue_size, f"arkit-encode-sender:{self.path.name}")

    @property
    def size(self):
        return self._checker.size

    # -- sender thread ----------------------------------------------------------------------------
    def _answer(self) -> None:
        tmp = self._worker.result()
        if tmp is not None:
            self._tmp = tmp
        self.frames_written += 1

    def _run(self) -> None:
        from arkit.core.shared_frames import SharedFrames
        from arkit.core.worker_process import WORKER_NICE, WorkerProcess

        sent = 0
        while True:
            img = self._queue.get()
            if img is _STOP:
                return
            if self._error is not None:
                continue  # drain after a failure; the caller sees the error
            try:
                if self._worker is None:
                    # frames go through a ring of shared slots; the pipe carries slot numbers
                    self._shared = SharedFrames(img.shape, self._in_flight + 1)
                    self._worker = WorkerProcess(
                        "arkit.io.video_writer_process:host_writer",
                        (str(self.path), self.fps, self._options, self._shared.fd, self._shared.shape,
                         self._shared.slots), name="video encoding", nice=WORKER_NICE, pass_fds=(self._shared.fd,))
                while self._worker.pending > self._in_flight:   # the slot to fill has been encoded
                    self._answer()
                slot = sent % self._shared.slots
                self._shared.array[slot] = img
                self._worker.submit(("frame", slot))
                sent += 1
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                self._error = e

    def _raise_error(self):
        e = self._error
        raise InputFileError(f"encoding {self.path} failed in the encoding process after {self.frames_written} "
                             f"frames: {e}; the video was discarded") from e

    def _check(self, image_rgb: np.ndarray) -> np.ndarray:
        return self._checker._fit(image_rgb)

    # -- public -----------------------------------------------------------------------------------
    def close(self) -> Optional[Path]:
        """Encode the queued frames, flush, and move the finished file into place.

        Returns
        -------
        Path or None
            The video, or None when no frame was written (no file is created).
        """
        if self._closed:
            return self.path if self.frames_written and self.path.exists() else None
        self._closed = True
        self._stop_thread()
        if self._error is None and self._worker is not None:
            try:
                while self._worker.pending:
                    self._answer()
                self._worker.submit(("close", None))
                self._worker.result()
                self._worker.close()
                self.encode_cpu_s = self._worker.cpu_s
                self._worker = None
                self._shared.close()
            except BaseException as e:  # noqa: BLE001 - reported below
                self._error = e
        if self._error is not None:
            self._kill()
            self._raise_error()
        if self.frames_written == 0:
            log.warning("video writer for %s: no frames were written; no file created", self.path)
            return None
        log.info("wrote %d frames to %s", self.frames_written, self.path)
        return self.path

    def _kill(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
        if self._shared is not None:
            self._shared.close()
        if self._tmp is not None:
            from arkit.io.atomic import discard_temp

            discard_temp(self._tmp)
            self._tmp = None

    def abort(self) -> None:
        """Stop without producing the file; queued frames are dropped."""
        self._abort_thread()
        self._kill()

    def __del__(self):
        try:
            if not self._closed:
                self.abort()
        except Exception:  # noqa: BLE001
            pass


def host_writer(path: str, fps: float, options: dict, frames_fd: int, shape, slots: int):
    """The child's handler (:class:`~arkit.core.worker_process.WorkerProcess`):
    ``("frame", slot)`` encodes the frame in that slot of the shared ring
    (:class:`~arkit.core.shared_frames.SharedFrames`) and returns the temporary file's path after
    the first one (None after the others); ``("close", None)`` finishes the file and renames it
    into place."""
    import cv2

    from arkit.core.shared_frames import attach

    # this process is the parallelism: no OpenCV worker pool for the colour conversion
    cv2.setNumThreads(1)
    frames = attach(frames_fd, shape, slots)
    writer = VideoWriter(path, fps, **options)

    def handle(request):
        kind, slot = request
        if kind == "frame":
            first = writer._container is None
            try:
                writer.write(frames[slot])
            except BaseException:
                writer.abort()
                raise
            return str(writer._tmp) if first else None
        if kind == "close":
            p = writer.close()
            return str(p) if p is not None else None
        raise ValueError(f"unknown request {kind!r}")

    return handle
