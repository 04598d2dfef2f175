"""Workers forked from the zygote: the same service as fresh processes, with the parent's
current import path and environment, exit codes, the fallback, and no process left behind."""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from arkit.core import zygote
from arkit.core.worker_process import WorkerProcess, WorkerProcessError

pytestmark = pytest.mark.skipif(not zygote.enabled(), reason="workers are not forked on this platform")


def env_factory(name):
    return lambda request: (os.environ.get(name), os.getpid(), os.getppid(), sys.modules.get("cv2") is not None)


def cwd_factory():
    return lambda request: os.path.abspath(request)


def test_a_forked_worker_answers_sees_the_current_environment_and_reports_its_exit(monkeypatch):
    monkeypatch.setenv("ARKIT_TEST_ZYGOTE_VAR", "first")
    w1 = WorkerProcess(f"{__name__}:env_factory", ("ARKIT_TEST_ZYGOTE_VAR",), name="env")
    monkeypatch.setenv("ARKIT_TEST_ZYGOTE_VAR", "second")   # after the zygote started
    w2 = WorkerProcess(f"{__name__}:env_factory", ("ARKIT_TEST_ZYGOTE_VAR",), name="env")
    try:
        assert type(w1._proc).__name__ == type(w2._proc).__name__ == "ForkedChild"
        w1.submit(0)
        w2.submit(0)
        (v1, pid1, ppid1, cv2_1), (v2, pid2, ppid2, cv2_2) = w1.result(), w2.result()
        assert (v1, v2) == ("first", "second")
        assert (pid1, pid2) == (w1._proc.pid, w2._proc.pid) and ppid1 == ppid2 != os.getpid()  # the zygote's
        assert cv2_1 and cv2_2   # preloaded before the fork
        assert w2._proc.poll() is None
        w2._proc.kill()
        assert w2._proc.wait(timeout=10) == -9
        with pytest.raises(WorkerProcessError, match=r"env process exited unexpectedly \(exit code -9\)"):
            w2.submit(1)
            w2.result()
    finally:
        w1.close()
        w2.kill()
    assert w1._proc.returncode == 0 and w1.cpu_s > 0


def test_a_module_put_on_the_path_after_the_zygote_started_is_found(tmp_path, monkeypatch):
    WorkerProcess("arkit.core.worker_process:echo_factory", name="echo").close()   # the zygote runs
    (tmp_path / "zygote_late_module.py").write_text("def factory(k):\n    return lambda r: r * k\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    w = WorkerProcess("zygote_late_module:factory", (3,), name="late")
    try:
        w.submit(np.arange(4))
        assert np.array_equal(w.result(), np.arange(4) * 3)
    finally:
        w.close()


def test_a_worker_starts_in_the_parents_current_folder(tmp_path, monkeypatch):
    WorkerProcess("arkit.core.worker_process:echo_factory", name="echo").close()   # the zygote runs
    monkeypatch.chdir(tmp_path)
    w = WorkerProcess(f"{__name__}:cwd_factory", name="cwd")
    try:
        w.submit("out.mp4")
        assert w.result() == str(tmp_path / "out.mp4")
    finally:
        w.close()


def test_without_forking_workers_are_fresh_processes(monkeypatch):
    monkeypatch.setenv("ARKIT_WORKER_FORK", "0")
    w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo")
    try:
        assert isinstance(w._proc, subprocess.Popen)
        w.submit("x")
        assert w.result() == "x"
    finally:
        w.close()


def test_the_zygote_and_its_workers_end_with_the_parent(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from arkit.core import zygote
        from arkit.core.worker_process import WorkerProcess
        w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo")
        w.submit(1); assert w.result() == 1
        print(zygote._zygote.proc.pid, w._proc.pid, flush=True)
        os._exit(0)   # no clean-up: the pipes and the zygote's socket just close
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert out.returncode == 0, out.stderr
    pids = [int(x) for x in out.stdout.split()]
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in pids if _alive(p)]
    assert not alive, f"processes {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"   # a zombie has ended
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _in_forked_copy(_):
    w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo")
    try:
        w.submit(7)
        return w.result(), zygote._zygote.proc.pid
    finally:
        w.close()


def test_a_forked_copy_of_the_parent_uses_its_own_zygote():
    import multiprocessing

    WorkerProcess("arkit.core.worker_process:echo_factory", name="echo").close()
    mine = zygote._zygote.proc.pid
    with multiprocessing.get_context("fork").Pool(1) as pool:
        answer, theirs = pool.map(_in_forked_copy, [0])[0]
    assert answer == 7 and theirs != mine
    w = WorkerProcess("arkit.core.worker_process:echo_factory", name="echo")   # ours still works
    try:
        assert zygote._zygote.proc.pid == mine
        w.submit(8)
        assert w.result() == 8
    finally:
        w.close()


def kernels_state_factory():
    return lambda request: getattr(sys.modules.get("arkit.planes.depth_kernels"), "_loaded", None)


def test_warm_up_functions_run_in_the_zygote_before_the_fork():
    w = WorkerProcess(f"{__name__}:kernels_state_factory", name="kernels",
                      warm_up=("arkit.planes.depth_kernels:load",))
    try:
        w.submit(0)
        loaded = w.result()   # load() ran before this child existed: the kernels (or False: numpy path)
        assert loaded is not None
    finally:
        w.close()
    assert w.cpu_s < 0.5   # the child did not load numba itself (1.1-1.6 s)
