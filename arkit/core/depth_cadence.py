"""Depth-driven managers on every n-th frame, in the loop, on a thread or in a child process."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from arkit.core.frame import Frame
from arkit.core.managers import ManagerOutput, TrackableManager
from arkit.core.trackables import CameraState

log = logging.getLogger(__name__)

_MODES = {False: None, None: None, True: "process", "process": "process", "thread": "thread"}
_REPEAT = object()   # a frame the child process was not sent: the last output, no changes


class DepthCadence(TrackableManager):
    """Feed depth to a manager on every ``every``-th frame only, optionally beside the loop
    (a child process or a worker thread).

    Plane extraction from depth costs more than tracking; ARKit and ARCore also refresh planes
    at a lower rate than the camera pose. Planes live in world coordinates, so between updates
    they stay where they are; the frames in between still reach the manager without depth, so
    it pauses and resumes its planes with the camera state as before. The cadence counts the
    frames this stage sees (the 1st, ``every + 1``-th, ... frame carry depth).

    With ``background`` the manager runs beside the loop and each frame returns the manager's
    output for the frame ``every`` frames earlier (nothing for the first ``every`` frames): a
    fixed latency, so results do not depend on timing, while the extraction overlaps with the
    tracking and rendering of the next frames. Only for stages whose output is in world
    coordinates (planes); image-space outputs (occluder masks) would be late. An error in the
    worker is raised by the next :meth:`update` in the session's thread, naming the frame.

    ``background="process"`` (what ``True`` means) runs the manager in a child process
    (:class:`arkit.core.worker_process.WorkerProcess`): the frames' depth, intrinsics and camera
    state go to it, never the image, so the manager must not read ``frame.image_rgb``; it must
    pickle (a plane stage with a ``point_source`` callable does not: it then runs on a thread,
    with a warning). ``background="thread"`` runs it on a worker thread of this process, which
    competes with the loop for Python's interpreter lock: measured on 2 cores, the loop ran at
    55 FPS with planes on a thread against 84 FPS without planes (``benchmarks/batch.py``).
    In process mode the ``manager`` object here is a copy that is never updated: read the planes
    from the session's results.

    Scene files: ``planes: {enabled: true, every: 3, background: true}`` (or ``thread``).

    Parameters
    ----------
    manager : TrackableManager
        A stage that updates from ``frame.depth_m`` and treats frames without depth as "no new
        observation" (as :class:`arkit.planes.stage.PlaneStage`).
    every : int
        1 = every frame.
    background : {False, True, "process", "thread"}

    Attributes
    ----------
    worker_cpu_s : float
        CPU seconds the worker thread or process spent in the manager (0 without background).
    """

    def __init__(self, manager: TrackableManager, every: int, *, background=False):
        from collections import deque

        from arkit.core.errors import ArkitError

        if background not in _MODES:
            raise ArkitError(f"background must be false, true, 'process' or 'thread', got {background!r}")
        self.manager = manager
        self.every = max(1, int(every))
        self.mode = _MODES[background]
        if self.mode == "process":
            import pickle

            try:
                if type(manager).__module__ == "__main__":
                    raise TypeError(f"{type(manager).__name__} is defined in __main__, which a child "
                                    f"process does not import; define it in a module")
                self._manager_bytes = pickle.dumps(manager)
            except Exception as e:  # noqa: BLE001 - e.g. a lambda point source
                log.warning("the %s stage cannot run in a child process (%s: %s); running it on a thread",
                            manager.name, type(e).__name__, e)
                self.mode = "thread"
        self.name = manager.name
        self._count = 0
        self._pool = None
        self._worker = None
        self._pending = deque()
        self._empty = ManagerOutput()
        self._last = self._empty              # the last output returned (process mode)
        self._sent_tracking = None            # camera.is_tracking of the last frame sent (process mode)
        self.worker_cpu_s = 0.0

    @property
    def background(self) -> bool:
        """True when the manager runs beside the loop (``mode`` "process" or "thread")."""
        return self.mode is not None

    def _worker_update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        t0 = time.thread_time()
        try:
            return self.manager.update(frame, camera)
        finally:
            self.worker_cpu_s += time.thread_time() - t0   # only the one worker thread writes it

    def _submit(self, frame: Frame, camera: CameraState, due: bool):
        """Start the manager's update of ``frame`` (its depth only when ``due``): a thread's
        future, or None for the child process (its answers come back in order)."""
        if self.mode == "thread":
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"arkit-{self.name}")
            return self._pool.submit(self._worker_update, frame, camera)
        if self._worker is None:
            from arkit.core.worker_process import WORKER_NICE, WorkerProcess

            self._worker = WorkerProcess("arkit.core.depth_cadence:host_manager", (self._manager_bytes,),
                                         name=f"{self.name} stage", send_thread=True, nice=WORKER_NICE,
                                         warm_up=tuple(getattr(self.manager, "worker_warm_up", ())))
        self._worker.submit(("update", (frame.index, frame.timestamp_s, frame.intrinsics,
                                        frame.depth_m if due else None, frame.T_world_camera_recorded, camera)))
        return None

    def _result(self, future) -> ManagerOutput:
        if future is _REPEAT:
            return ManagerOutput(self._last.trackables)
        if future is not None:
            return future.result()
        out, self.worker_cpu_s = self._worker.result()
        self._last = out
        return out

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        due = self._count % self.every == 0
        self._count += 1
        if self.mode != "process" and not due and frame.depth_m is not None:
            frame = replace(frame, depth_m=None)   # (the child process is simply sent no depth)
        if not self.background:
            return self.manager.update(frame, camera)
        if (self.mode == "process" and not due and self.manager.idle_without_depth
                and camera.is_tracking == self._sent_tracking):
            # the child would answer with its last trackables and no changes: spare the round
            # trip (0.5 ms of CPU a frame on both sides with planes every 3rd frame)
            self._pending.append((frame.index, _REPEAT))
        else:
            self._sent_tracking = camera.is_tracking
            self._pending.append((frame.index, self._submit(frame, camera, due)))
        if len(self._pending) <= self.every:
            return self._empty
        index, future = self._pending.popleft()
        try:
            return self._result(future)
        except Exception as e:
            from arkit.core.errors import ArkitError

            where = "its worker thread" if self.mode == "thread" else "its worker process"
            raise ArkitError(f"the {self.name} stage failed on frame {index} in {where}: "
                             f"{type(e).__name__}: {e}") from e

    def _drain(self) -> None:
        while self._pending:
            _, future = self._pending.popleft()
            if future is _REPEAT:
                continue
            if future is not None:
                future.cancel() or future.exception()   # queued updates are dropped unrun
                continue
            try:
                self._worker.result()
            except Exception:  # noqa: BLE001 - results being dropped
                pass

    def reset(self) -> None:
        self._drain()
        self._count = 0
        self._last, self._sent_tracking = self._empty, None
        if self._worker is not None:
            self._worker.submit(("reset", None))
            self._worker.result()
        self.manager.reset()

    def close(self) -> None:
        self._drain()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._worker is not None:
            self._worker.close()
            self.worker_cpu_s = max(self.worker_cpu_s, self._worker.cpu_s)
            self._worker = None
        self.manager.close()


def host_manager(manager_bytes: bytes):
    """The child process's handler for :class:`DepthCadence` in process mode (see
    :class:`arkit.core.worker_process.WorkerProcess`): ``("update", fields)`` runs the manager
    on a frame rebuilt from its depth, intrinsics and camera state (the image is a shared black
    array: it never crosses the pipe) and returns ``(output, child CPU seconds)``;
    ``("reset", None)`` resets the manager."""
    import os
    import pickle

    manager = pickle.loads(manager_bytes)
    black = np.zeros(3, np.uint8)

    def handle(request):
        kind, fields = request
        if kind == "reset":
            manager.reset()
            return None
        index, timestamp_s, intrinsics, depth_m, recorded, camera = fields
        image = np.broadcast_to(black, (intrinsics.height, intrinsics.width, 3))
        frame = Frame(index, timestamp_s, image, intrinsics, depth_m=depth_m, T_world_camera_recorded=recorded)
        out = manager.update(frame, camera)
        t = os.times()
        return out, t.user + t.system

    return handle
