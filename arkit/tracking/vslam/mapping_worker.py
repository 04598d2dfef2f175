"""Background local mapping (ORB-SLAM's LocalMapping thread): local bundle adjustment off the
tracking path.

The tracker holds ``lock`` while it reads or edits the map; the worker holds it only to snapshot
a BA problem (:func:`arkit.tracking.vslam.local_mapping.prepare_local_ba`) and to write the
solution back (:func:`~arkit.tracking.vslam.local_mapping.apply_local_ba`); the optimisation
itself runs unlocked on the snapshot (numpy releases the GIL in its heavy loops).
When keyframes arrive faster than BA finishes, only the newest pending request is kept (older
ones are superseded, as ORB-SLAM aborts a running BA when a keyframe arrives).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class MappingWorker:
    """A daemon thread that runs the latest requested local BA.

    Parameters
    ----------
    lock : threading.RLock
        The map lock shared with the tracker.

    Attributes
    ----------
    cpu_s : float
        CPU seconds the worker thread spent (``time.thread_time``).
    n_done, n_superseded : int
        BA runs completed / requests dropped because a newer one arrived first.
    """

    def __init__(self, lock: threading.RLock):
        self.lock = lock
        self._cv = threading.Condition()
        self._pending: tuple | None = None
        self._busy = False
        self._closed = False
        self.cpu_s = 0.0
        self.n_done = 0
        self.n_superseded = 0
        self._thread = threading.Thread(target=self._loop, name="arkit-local-mapping", daemon=True)
        self._thread.start()

    def request(self, prepare: Callable, apply: Callable) -> None:
        """Queue one BA: ``prepare()`` (called with the lock) returns a problem with ``solve()``
        or None; ``apply(problem, solution)`` is called with the lock."""
        with self._cv:
            if self._pending is not None:
                self.n_superseded += 1
            self._pending = (prepare, apply)
            self._cv.notify()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until no request is pending or running; False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: self._pending is None and not self._busy, timeout_s)

    def close(self) -> None:
        """Finish the running request and stop the thread (pending requests are dropped)."""
        with self._cv:
            self._closed = True
            self._pending = None
            self._cv.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    self._cv.notify_all()
                    return
                prepare, apply = self._pending
                self._pending = None
                self._busy = True
            c0 = time.thread_time()
            try:
                with self.lock:
                    problem = prepare()
                if problem is not None:
                    solution = problem.solve()
                    with self.lock:
                        apply(problem, solution)
                    self.n_done += 1
            except Exception:  # a failed BA must not kill mapping; tracking goes on without it
                log.exception("local bundle adjustment failed")
            finally:
                self.cpu_s += time.thread_time() - c0
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
