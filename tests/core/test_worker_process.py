"""The child-process worker: ordered replies, exact arrays, errors and deaths reported by name."""

import numpy as np
import pytest

from arkit.core.worker_process import WorkerProcess, WorkerProcessError


def test_replies_come_back_in_order_with_exact_arrays():
    rng = np.random.default_rng(0)
    big = rng.random((480, 640)).astype(np.float32)   # out-of-band buffer
    small = rng.random((3, 4))                          # in-band
    w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo")
    try:
        for i in range(5):
            w.submit((i, big + i, small))
        assert w.pending == 5
        for i in range(5):
            j, a, b = w.result()
            assert j == i and a.dtype == np.float32 and np.array_equal(a, big + i) and np.array_equal(b, small)
        assert w.pending == 0
        with pytest.raises(WorkerProcessError, match="no request is waiting"):
            w.result()
    finally:
        w.close()
    assert w.cpu_s > 0


def raising_factory():
    def handle(request):
        if request == "bad":
            raise ValueError("bad request")
        return request * 2
    return handle


def test_handler_errors_are_raised_and_the_worker_goes_on(monkeypatch):
    w = WorkerProcess(f"{__name__}:raising_factory", name="doubler")
    try:
        w.submit(2)
        w.submit("bad")
        w.submit(5)
        assert w.result() == 4
        with pytest.raises(WorkerProcessError, match="the doubler process failed: ValueError: bad request"):
            w.result()
        assert w.result() == 10
    finally:
        w.close()


def test_a_killed_child_and_a_bad_target_are_named():
    w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo", send_thread=True)
    w.submit(1)
    assert w.result() == 1
    w._proc.kill()
    w._proc.wait()
    with pytest.raises(WorkerProcessError, match="echo process exited unexpectedly"):
        w.submit(2)
        w.result()
    w.kill()
    bad = WorkerProcess("arkit.core.worker_process:no_such_factory", name="broken")
    with pytest.raises(WorkerProcessError, match="broken process failed: starting .*no_such_factory"):
        bad.submit(1)
        bad.result()
    bad.kill()


def niceness_factory():
    import os

    return lambda request: os.nice(0)


def test_the_child_runs_at_the_requested_lower_priority():
    import os

    w = WorkerProcess(f"{__name__}:niceness_factory", name="nice", nice=3)
    try:
        w.submit(None)
        assert w.result() == min(os.nice(0) + 3, 19)
    finally:
        w.close()


def test_ctrl_c_is_left_to_the_parent():
    """SIGINT reaches the whole process group on Ctrl-C; the child ignores it, so the parent can
    still finish (arkit run finalises the video written so far)."""
    import os
    import signal
    import time

    w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo")
    try:
        w.submit(1)
        assert w.result() == 1   # the child is up and its handler is installed
        os.kill(w._proc.pid, signal.SIGINT)
        time.sleep(0.2)
        w.submit(2)
        assert w.result() == 2 and w._proc.poll() is None
    finally:
        w.close()
