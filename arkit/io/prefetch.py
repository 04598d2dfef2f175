"""Read ahead on a background thread: :class:`Prefetcher`.

Used by :func:`arkit.runner.process` for decoding (frames read ahead of the loop) and by
:meth:`arkit.session.Session.run` for perception (the tracker and managers run ahead of the
rendering, ``pipeline=``).
"""

from __future__ import annotations

import queue
import threading
import time

_END = object()


class Prefetcher:
    """Read frames on a background thread, keeping up to ``depth`` decoded frames ready.

    Image and depth decoding (PNG, JPEG, video) releases the GIL, so it overlaps with the
    tracking and rendering of earlier frames. Frames come out in source order, so results
    are identical to reading the source directly. An exception raised by the source is
    re-raised, unchanged, by the iterator in the consuming thread (after the frames read
    before it). :meth:`close` stops the thread and waits for it, so the source can be closed
    safely afterwards.

    Parameters
    ----------
    frames : FrameSource or iterable of Frame
    depth : int
        Frames decoded ahead at most (each holds an image and maybe a depth map).
    name : str
        The thread's name.

    Attributes
    ----------
    cpu_s : float
        CPU seconds used by the thread (set when it ends).
    """

    def __init__(self, frames, depth: int = 4, name: str = "arkit-prefetch"):
        self._it = iter(frames)
        self._queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self.cpu_s = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        t0 = time.thread_time()
        try:
            for frame in self._it:
                if not self._put(frame):
                    return
            self._put(_END)
        except BaseException as e:  # noqa: BLE001 - re-raised in the consuming thread
            self._put(e)
        finally:
            self.cpu_s = time.thread_time() - t0

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it finishes the frame it is decoding)."""
        self._stop.set()
        self._thread.join()
        while not self._queue.empty():
            self._queue.get_nowait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
