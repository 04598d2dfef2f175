"""A Python child process that serves requests in order: :class:`WorkerProcess`.

CPython threads share one interpreter lock (GIL). A worker *thread* doing Python or numpy work
(plane fitting, frame conversion for the encoder) holds that lock in slices of up to
``sys.getswitchinterval()`` (5 ms) and the loop thread waits for it each time it comes back from
a C call (marker detection, GL readback): measured on 2 cores, planes on a worker thread cost the
loop a third of its frame rate although the thread used only 5 ms of CPU per frame. A child
process has its own interpreter: the work runs truly beside the loop.

The child runs ``python -m arkit.core.worker_process MODULE:FACTORY``; it builds a handler with
``FACTORY(*init_args)`` and answers each request with ``handler(request)``, in order. Messages
are length-prefixed pickles over the child's stdin / stdout (the child's ``print`` output goes to
stderr, so it cannot corrupt them). The child never imports the parent's ``__main__`` (unlike
``multiprocessing``'s spawn), so scripts without an ``if __name__ == "__main__"`` guard and
notebooks work. The child exits when its stdin closes, so it never outlives the parent.
Children are forked from a pre-started process that has numpy, OpenCV and PyAV loaded
(:mod:`arkit.core.zygote`; ``ARKIT_WORKER_FORK=0`` starts fresh interpreters instead).

>>> w = WorkerProcess("arkit.core.worker_process:echo_factory")   # doctest: +SKIP
>>> w.submit(42); w.result()                                       # doctest: +SKIP
42
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

from arkit.core import zygote
from arkit.core.errors import ArkitError

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<QI")   # pickle length, out-of-band buffer count
_SIZE = struct.Struct("<Q")
_OUT_OF_BAND_BYTES = 1 << 16


#: Nice value of arkit's background workers (planes, video encoding). Measured on 2 cores with
#: planes every 3rd frame and H.264 in child processes: 50-53 FPS at nice 0, 54-57 FPS at nice 5
#: (``benchmarks/batch.py``); in three interleaved rounds later, nice 5 / 10 / 19 gave
#: 54.2 / 56.9 / 53.2, 58.2 / 60.9 / 64.2 and 56.1 / 58.4 / 57.1 FPS (at 19 the loop waits for
#: the planes child). The workers keep up (queues, fixed latency).
WORKER_NICE = 10

#: Thread-count variables set to 1 in a worker's environment unless already set.
_SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class WorkerProcessError(ArkitError):
    """The child process failed: its handler raised, or the process died."""


def _grow_pipe(fd: int, size: int = 1 << 20) -> None:
    """Let a pipe hold a whole 640x480 frame (Linux; the default 64 KiB means a context switch
    per 64 KiB). Best effort: the pipe-max-size limit or another OS leaves it as it is."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError, ValueError):
        pass


def _encode(obj) -> list:
    """``obj`` as a list of byte chunks: a header (pickle length, buffer count, buffer sizes),
    the pickle, then the raw bytes of large contiguous arrays (pickle protocol 5's out-of-band
    buffers: a depth map or a frame is never copied into the pickle)."""
    raws = []

    def out_of_band(buffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < _OUT_OF_BAND_BYTES:
            return True  # small arrays stay in the pickle: one read instead of one per array
        raws.append(raw)
        return False

    data = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    head = _HEADER.pack(len(data), len(raws)) + b"".join(_SIZE.pack(r.nbytes) for r in raws)
    if len(data) < _OUT_OF_BAND_BYTES:
        return [head + data, *raws]  # one write for small messages
    return [head, data, *raws]


def _write_message(fd: int, obj) -> None:
    _write_chunks(fd, _encode(obj))


def _write_chunks(fd: int, chunks) -> None:
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        while len(view):
            n = os.write(fd, view)  # releases the GIL while the pipe is full
            view = view[n:]


def _read_exact(fd: int, n: int):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            return None
        got += k
    return buf


def _read_message(fd: int):
    """The next message, or raises EOFError when the other side closed the pipe."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        raise EOFError
    size, count = _HEADER.unpack(head)
    sizes = _read_exact(fd, _SIZE.size * count) if count else b""
    if sizes is None:
        raise EOFError
    data = _read_exact(fd, size)
    buffers = [_read_exact(fd, _SIZE.unpack_from(sizes, i * _SIZE.size)[0]) for i in range(count)]
    if data is None or any(b is None for b in buffers):
        raise EOFError
    return pickle.loads(data, buffers=buffers)


class WorkerProcess:
    """A child Python process that answers requests in submission order.

    Parameters
    ----------
    target : str
        ``"module:factory"``; the child calls ``factory(*init_args)`` once to get a handler
        (a callable), then ``handler(request)`` for each request.
    init_args : tuple
        Picklable arguments of the factory (e.g. a manager object to host).
    name : str
        For messages and logs.
    send_thread : bool
        Write requests to the pipe from a thread of this process, so :meth:`submit` returns
        at once even when the child has not read the previous request yet (a pipe holds 64 KiB
        to 1 MiB; a 640x480 depth map is 1.2 MB). Requests are still pickled by the caller.
    nice : int
        Added to the child's nice value (lower scheduling priority; POSIX). Workers that have
        slack (a queue, a fixed latency) use :data:`WORKER_NICE`, so that on a busy machine the
        loop thread, which every frame waits for, gets the CPU first.
    pass_fds : tuple of int
        Descriptors the child inherits with the same numbers (shared memory, see
        :class:`arkit.core.shared_frames.SharedFrames`).
    warm_up : tuple of str
        ``"module:function"`` names the child needs called before its first request (compiled
        kernels); a zygote calls each once, and the children it forks inherit the result
        (:func:`arkit.core.zygote.spawn`). A fresh child's handler does this itself.

    Attributes
    ----------
    cpu_s : float
        The child's CPU seconds (user + system), set by :meth:`close`.
    """

    def __init__(self, target: str, init_args: tuple = (), *, name: str = "worker", send_thread: bool = False,
                 nice: int = 0, pass_fds: tuple = (), warm_up: tuple = ()):
        self.name = name
        self.cpu_s = 0.0
        self._pending = 0
        self.submitted = 0   # requests sent so far
        self._closed = False
        self._stopped = False
        self._sendq = None
        # the child imports what this process can: arkit (even when not installed) and the
        # modules on this process's path (a user's manager class, a test module)
        env = dict(os.environ)
        paths = [str(Path(__file__).resolve().parents[2])] + [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        # a worker is one of several busy processes: BLAS thread pools would only spin (numpy's
        # OpenBLAS start-up alone took 0.12-0.15 s more CPU with its threads); a user's explicit
        # setting is kept
        for var in _SINGLE_THREAD_ENV:
            env.setdefault(var, "1")
        self._proc = None
        if zygote.enabled():   # forked from a process that has the common modules loaded
            try:
                self._proc = zygote.spawn(target, nice, env, tuple(pass_fds), tuple(warm_up))
            except OSError as e:
                log.debug("forking the %s process failed (%s); starting a fresh one", name, e)
        if self._proc is None:
            try:
                self._proc = subprocess.Popen([sys.executable, "-m", "arkit.core.worker_process", target, str(int(nice))],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0,
                                              pass_fds=tuple(pass_fds))
            except OSError as e:
                raise WorkerProcessError(f"cannot start the {name} process: {e}") from None
        self._out = self._proc.stdin.fileno()
        self._in = self._proc.stdout.fileno()
        _grow_pipe(self._out)
        _grow_pipe(self._in)
        if send_thread:
            import queue
            import threading

            self._sendq = queue.Queue(maxsize=4)
            self._sender = threading.Thread(target=self._send_loop, name=f"arkit-send:{name}", daemon=True)
            self._sender.start()
        self._send(init_args)

    def _send(self, obj) -> None:
        chunks = _encode(obj)
        if self._sendq is not None:
            self._sendq.put(chunks)  # a dead child shows in result(): its pipe ends
            return
        try:
            _write_chunks(self._out, chunks)
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def _send_loop(self) -> None:
        broken = False
        while True:
            data = self._sendq.get()
            if data is None:
                return
            if not broken:
                try:
                    _write_chunks(self._out, data)
                except OSError:
                    broken = True  # keep draining so callers never block

    def _died(self) -> WorkerProcessError:
        code = self._proc.poll()
        if code is None:
            try:
                code = self._proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                return WorkerProcessError(f"the {self.name} process stopped answering")
        # an error reply the child managed to send before exiting names the cause
        try:
            reply = _read_message(self._in)
            if isinstance(reply, tuple) and reply and reply[0] == "error":
                return WorkerProcessError(f"the {self.name} process failed: {reply[1]}")
        except Exception:  # noqa: BLE001 - nothing readable: report the exit code
            pass
        return WorkerProcessError(f"the {self.name} process exited unexpectedly (exit code {code})")

    @property
    def pending(self) -> int:
        """Requests submitted whose results have not been read."""
        return self._pending

    def submit(self, request) -> None:
        """Send one request (returns at once unless the pipe is full)."""
        if self._closed:
            raise WorkerProcessError(f"the {self.name} process is closed")
        self._send(("call", request))
        self._pending += 1
        self.submitted += 1

    def result(self):
        """The reply to the oldest unanswered request (waits for it); re-raises the handler's
        error as :class:`WorkerProcessError`."""
        if self._pending <= 0:
            raise WorkerProcessError(f"no request is waiting for a result from the {self.name} process")
        try:
            reply = _read_message(self._in)
        except (EOFError, OSError):
            raise self._died() from None
        self._pending -= 1
        if reply[0] == "error":
            raise WorkerProcessError(f"the {self.name} process failed: {reply[1]}")
        return reply[1]

    def close(self, timeout: float = 30.0) -> None:
        """Let the child answer what is pending (answers are dropped), then stop it."""
        if self._closed:
            return
        self._closed = True
        while self._pending:
            try:
                self.result()
            except WorkerProcessError as e:
                log.debug("%s (while closing)", e)
                if self._proc.poll() is not None:
                    break   # the child is gone: nothing more will come
        try:
            self._send(("stop",))
            reply = _read_message(self._in)
            if reply[0] == "stopped":
                self.cpu_s = float(reply[1])
                self._stopped = True
        except (EOFError, OSError, ValueError, IndexError, pickle.UnpicklingError, WorkerProcessError):
            pass
        self._finish(timeout)

    def kill(self) -> None:
        """Stop the child at once (pending requests are lost)."""
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._finish(5.0)

    def _finish(self, timeout: float) -> None:
        if self._sendq is not None and self._sender.is_alive():
            if self._proc.poll() is None and not self._stopped:
                self._proc.kill()  # unblocks a sender stuck in a full pipe
            self._sendq.put(None)
            self._sender.join()
        for f in (self._proc.stdin, self._proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __del__(self):
        try:
            if not self._closed:
                self.kill()
        except Exception:  # noqa: BLE001
            pass


def echo_factory(*_):
    """A handler that returns its request (for tests)."""
    return lambda request: request


def _own_cpu_s() -> float:
    """This process's CPU seconds (user + system; microseconds where ``resource`` exists: a
    forked worker may use only a few ms)."""
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    except ImportError:
        t = os.times()
        return t.user + t.system


def _child_main(target: str, nice: int = 0) -> int:
    import signal

    # Ctrl-C reaches the whole process group; the parent decides what happens (arkit run
    # finalises the video written so far), so the child must not die of it first
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            pass
    out_fd = os.dup(1)
    in_fd = os.dup(0)
    os.dup2(2, 1)  # stray prints go to stderr, never into the message stream
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        init_args = _read_message(in_fd)
        module, _, factory = target.partition(":")
        handler = getattr(importlib.import_module(module), factory)(*init_args)
    except EOFError:
        return 0
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        _write_message(out_fd, ("error", f"starting {target}: {type(e).__name__}: {e}"))
        return 1
    # replies go out from a thread, so a large reply the parent has not read yet never stops
    # this loop from reading the parent's next requests (which would deadlock both sides)
    import queue
    import threading

    replies = queue.Queue()

    def send_replies():
        while True:
            reply = replies.get()
            if reply is None:
                return
            try:
                _write_chunks(out_fd, reply)
            except OSError:
                return  # the parent went away

    sender = threading.Thread(target=send_replies, daemon=True)
    sender.start()
    try:
        while True:
            try:
                msg = _read_message(in_fd)
            except EOFError:
                return 0  # the parent went away
            if msg[0] == "stop":
                replies.put(_encode(("stopped", _own_cpu_s())))
                return 0
            try:
                reply = ("ok", handler(msg[1]))
            except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
                reply = ("error", f"{type(e).__name__}: {e}")
            replies.put(_encode(reply))
    finally:
        replies.put(None)
        sender.join()


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
