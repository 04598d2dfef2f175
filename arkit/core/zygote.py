"""Start worker children by forking a pre-started, pre-imported process (POSIX).

A fresh ``python -m arkit.core.worker_process`` child pays the interpreter's start-up and the
imports of numpy, OpenCV and PyAV before its first request: 0.4-0.65 s of CPU and about 0.5 s
of wall time for a video encoder, measured here, which on a 10 s recording processed at 2x real
time is about 7% of the two cores. :class:`WorkerProcess` therefore asks one helper process per
parent process, the *zygote*, to fork its children. The zygote is started (a fresh interpreter,
single-threaded) with the first worker; it imports numpy, OpenCV and PyAV, and the module of each
arkit handler it is asked for, once. Each child it forks starts with those modules loaded and
runs the same :func:`arkit.core.worker_process._child_main` as a fresh child, on the pipes and
descriptors the parent passes over a Unix socket (``SCM_RIGHTS``).

The zygote exits when the parent does (its socket closes). Children it forked are its own
children, so it reports their exit codes (:meth:`ForkedChild.poll`); the parent kills them by
pid. ``ARKIT_WORKER_FORK=0`` in the environment starts every worker as a fresh process instead.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from typing import Optional

log = logging.getLogger(__name__)

#: Modules the zygote imports when it starts: every worker of arkit's needs numpy, most OpenCV,
#: video encoders PyAV (0.1 s each).
PRELOAD = ("numpy", "cv2", "av")
_MAX_MESSAGE = 1 << 20
_lock = threading.Lock()
_zygote: Optional["_Zygote"] = None


def enabled() -> bool:
    """Whether workers are forked from a zygote here (POSIX with ``socket.send_fds``, and
    ``ARKIT_WORKER_FORK`` not ``0``)."""
    import socket

    return (os.environ.get("ARKIT_WORKER_FORK", "1") != "0" and hasattr(os, "fork")
            and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET"))


class _Zygote:
    def __init__(self, env: dict):
        import socket

        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # stdout to /dev/null: the zygote must not hold a pipe the parent's caller reads to its end
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "arkit.core.zygote", str(child_sock.fileno())],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                                         pass_fds=(child_sock.fileno(),))
        finally:
            child_sock.close()
        self.sock = parent_sock
        self.lock = threading.Lock()

    def request(self, obj, fds=()):
        import socket

        with self.lock:
            socket.send_fds(self.sock, [pickle.dumps(obj)], list(fds))
            reply = self.sock.recv(_MAX_MESSAGE)
        if not reply:
            raise OSError("the worker zygote exited")
        kind, value = pickle.loads(reply)
        if kind == "error":
            raise OSError(f"the worker zygote failed: {value}")
        return value

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _get(env: dict) -> _Zygote:
    global _zygote
    with _lock:
        if _zygote is None or not _zygote.alive():
            if _zygote is None:
                import atexit

                atexit.register(_close_at_exit)
            _zygote = _Zygote(env)
        return _zygote


def _close_at_exit() -> None:
    """Close the socket (the zygote then exits) and reap the zygote."""
    z = _zygote
    if z is not None:
        try:
            z.close()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass


_inherited: list = []


def _forget_after_fork() -> None:
    """In a forked copy of this process (a multiprocessing pool worker): start an own zygote
    when needed, and close the inherited socket so the parent's zygote still ends with the parent."""
    global _zygote, _lock
    if _zygote is not None:
        try:
            _zygote.sock.close()
        except OSError:
            pass
        _inherited.append(_zygote)   # kept: collecting its Popen would warn about a running process
    _zygote, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def stat_cpu_s(path: str) -> float:
    """User + system CPU seconds from a Linux ``/proc/<pid>/stat`` or ``/proc/<pid>/task/<tid>/stat``
    file. Raises OSError (no such process), ValueError or IndexError (another format)."""
    with open(path) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()   # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_s() -> float:
    """CPU seconds (user + system) the zygote of this process used so far; 0.0 when there is
    none or the platform does not tell (Linux ``/proc``)."""
    z = _zygote
    if z is None:
        return 0.0
    try:
        return stat_cpu_s(f"/proc/{z.proc.pid}/stat")
    except (OSError, ValueError, IndexError):
        return 0.0


class ForkedChild:
    """The parent's handle on a forked worker, with the parts of :class:`subprocess.Popen`
    that :class:`~arkit.core.worker_process.WorkerProcess` uses."""

    def __init__(self, zygote: _Zygote, pid: int, stdin_fd: int, stdout_fd: int):
        self._zygote = zygote
        self.pid = pid
        self.stdin = open(stdin_fd, "wb", buffering=0)
        self.stdout = open(stdout_fd, "rb", buffering=0)
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            try:
                self.returncode = self._zygote.request(("status", self.pid))
            except OSError:
                # no zygote to ask: it exited (its children went to init, which reaps them)
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    self.returncode = -1
                except PermissionError:
                    pass
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.005)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass


def spawn(target: str, nice: int, env: dict, pass_fds: tuple = (), warm_up: tuple = ()) -> ForkedChild:
    """Fork a worker child serving ``target`` (see :class:`~arkit.core.worker_process.WorkerProcess`)
    with fresh stdin / stdout pipes and ``pass_fds`` under the same numbers. The zygote first
    calls each ``"module:function"`` of ``warm_up`` it has not called yet (arkit's own only).

    Raises
    ------
    OSError
        The zygote could not be started or could not fork; the caller starts a fresh process.
    """
    zygote = _get(env)
    c_in, p_in = os.pipe()     # the child's stdin
    p_out, c_out = os.pipe()   # the child's stdout
    try:
        paths = [p for p in sys.path if p]
        pid = zygote.request(("spawn", target, int(nice), [0, 1, *pass_fds], paths, env, os.getcwd(), list(warm_up)),
                             [c_in, c_out, *pass_fds])
    except BaseException:
        for fd in (c_in, p_in, p_out, c_out):
            os.close(fd)
        raise
    os.close(c_in)
    os.close(c_out)
    return ForkedChild(zygote, pid, p_in, p_out)


# -- the zygote process ------------------------------------------------------------------------
def _reap(exits: dict) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exits[pid] = os.waitstatus_to_exitcode(status)


def _become_child(fds: list, targets: list, paths: list, env: dict, cwd: str) -> None:
    """In a forked child: put the received descriptors at their target numbers, adopt the
    parent's environment, import path and working folder."""
    import fcntl

    base = max([*fds, *targets, 2]) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, base) for fd in fds]
    for fd in fds:
        os.close(fd)
    for h, t in zip(high, targets):
        os.dup2(h, t)
    for h in high:
        os.close(h)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)   # relative paths in requests mean what they mean in the parent
    sys.path[:] = list(dict.fromkeys([*paths, *sys.path]))


def _zygote_main(sock_fd: int) -> int:
    import signal
    import socket

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides, as for workers
    sock = socket.socket(fileno=sock_fd)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from arkit.core import worker_process

    exits: dict = {}
    done: set = set()   # modules imported and warm-up functions called
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 64)
        except OSError:
            return 0
        if not msg:
            return 0   # the parent exited
        _reap(exits)
        req = pickle.loads(msg)
        if req[0] == "status":
            sock.send(pickle.dumps(("ok", exits.get(req[1]))))
            continue
        _, target, nice, targets, paths, env, cwd, warm_up = req
        # once here rather than in every child; a user's module is imported by the child only
        for name in [target.partition(":")[0], *warm_up]:
            if name in done or not name.startswith("arkit."):
                continue
            done.add(name)
            module, _, function = name.partition(":")
            try:
                m = importlib.import_module(module)
                if function:
                    getattr(m, function)()
            except Exception:  # noqa: BLE001 - the child meets (and reports) the error itself
                pass
        try:
            pid = os.fork()
        except OSError as e:
            for fd in fds:
                os.close(fd)
            sock.send(pickle.dumps(("error", f"fork failed: {e}")))
            continue
        if pid == 0:
            code = 1
            try:
                sock.close()
                _become_child(fds, targets, paths, env, cwd)
                code = worker_process._child_main(target, nice)
            except BaseException:  # noqa: BLE001 - reported on stderr; the parent sees the exit
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        exits.pop(pid, None)   # a reused pid: the code kept is an earlier child's
        for fd in fds:
            os.close(fd)
        sock.send(pickle.dumps(("ok", pid)))


if __name__ == "__main__":
    sys.exit(_zygote_main(int(sys.argv[1])))
