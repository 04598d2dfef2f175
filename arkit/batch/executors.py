"""Where batch jobs run: local worker processes (default) or a Ray cluster (optional ``ray``).

Both run :func:`arkit.batch.jobs.run_job` once per job and return one result row per job, in
job order. A job that raises is reported ``failed`` by the job itself; a worker that dies
(``os._exit``, a segfault in native code, the OOM killer) is reported ``failed`` by the executor,
and the other jobs still run.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from arkit.batch.jobs import DONE_FILE, LOG_FILE, JobSpec, base_result, read_done, run_job
from arkit.core.errors import ArkitError, MissingDependencyError

log = logging.getLogger(__name__)

WORKER_DIED = ("the worker process died while running this job (killed, out of memory, or a crash in "
               "native code); see its job.log")
EXECUTORS = ("local", "ray")
#: Modules the forkserver imports once (light enough, and no GL context or thread is created).
PRELOAD = ["arkit.batch.jobs", "arkit.runner", "arkit.session", "arkit.scene.scene_file", "arkit.io.sources", "cv2",
           "av"]


class LocalExecutor:
    """Jobs in ``workers`` local processes (``concurrent.futures.ProcessPoolExecutor``, spawn).

    When a worker dies the pool breaks and every job still in it fails with it. Jobs that had
    not started (no ``job.log`` yet) are queued again; if only one job was running it is the
    one that died and is reported failed; if several were running, each is rerun alone in a
    fresh single-worker pool, so only the job that kills its worker is reported failed.

    Parameters
    ----------
    workers : int
    start_method : str, optional
        ``"forkserver"`` (default where available: workers fork from a clean server process
        that has imported arkit's pipeline modules once, so no GL context or thread is
        inherited and workers start fast) or ``"spawn"``.
    """

    def __init__(self, workers: int = 1, start_method: Optional[str] = None):
        if workers < 1:
            raise ArkitError(f"--workers must be at least 1, got {workers}")
        self.workers = int(workers)
        if start_method is None:
            start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # the server imports these once; every worker forks from it instead of re-importing
            self.context.set_forkserver_preload(PRELOAD)

    def map(self, specs: Sequence[JobSpec], on_result: Optional[Callable[[dict], None]] = None,
            fn: Callable[[JobSpec], dict] = run_job) -> List[dict]:
        results: List[Optional[dict]] = [None] * len(specs)

        def finish(i: int, row: dict) -> None:
            results[i] = row
            if on_result is not None:
                on_result(row)

        queue = list(range(len(specs)))
        while queue:
            t_start = time.time()
            broken = self._run_pool(specs, queue, finish, fn, self.workers)
            if not broken:
                break
            # A job may have finished (DONE.json written) with its result lost in the broken pool.
            for i in list(broken):
                done = read_done(specs[i])
                if done is not None and _written_since(Path(specs[i].out_dir) / DONE_FILE, t_start):
                    finish(i, done["result"])
                    broken.remove(i)
            # Jobs whose log was written after the pool started were running when it broke.
            started = [i for i in broken if _written_since(Path(specs[i].out_dir) / LOG_FILE, t_start)]
            queue = [i for i in broken if i not in started]
            if not started:   # the pool broke before any job began: workers cannot start at all
                for i in queue:
                    finish(i, base_result(specs[i], "failed", "worker processes could not start (see the log)"))
                break
            if len(started) == 1:
                finish(started[0], base_result(specs[started[0]], "failed", WORKER_DIED))
                started = []
            if started:
                log.warning("a worker process died; rerunning the %d job(s) that were running, one at a time",
                            len(started))
            for i in started:   # isolate: only the job that kills its worker again fails
                if self._run_pool(specs, [i], finish, fn, 1):
                    finish(i, base_result(specs[i], "failed", WORKER_DIED))
        return results

    def _run_pool(self, specs, queue, finish, fn, workers) -> list:
        """Run ``queue`` (job positions) in one pool; returns the positions lost to a broken pool."""
        broken = []
        with ProcessPoolExecutor(min(workers, len(queue)), mp_context=self.context) as pool:
            futures = {pool.submit(fn, specs[i]): i for i in queue}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    finish(i, fut.result())
                except BrokenProcessPool:
                    broken.append(i)
                except Exception as e:  # noqa: BLE001 - e.g. an unpicklable result
                    finish(i, base_result(specs[i], "failed", f"{type(e).__name__}: {e}"))
        return sorted(broken)


def _written_since(path: Path, t: float) -> bool:
    try:
        return path.stat().st_mtime >= t - 1.0
    except OSError:
        return False


class RayExecutor:
    """Jobs as Ray tasks (one CPU each, no retries). Needs ``pip install ray``.

    Parameters
    ----------
    workers : int
        CPUs of the local Ray instance started when none is running (ignored when ``address``
        is given or Ray is already initialised).
    address : str, optional
        Address of an existing Ray cluster (``"auto"`` or ``"ray://host:10001"``).
    """

    def __init__(self, workers: int = 1, address: Optional[str] = None):
        try:
            import ray  # noqa: F401
        except ImportError as e:
            raise MissingDependencyError("the ray executor needs Ray: pip install 'arkit-toolkit[ray]' "
                                         "(or pip install ray)") from e
        self.workers = int(workers)
        self.address = address

    def _init(self):
        import ray

        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.workers, **kwargs)
        return ray

    def map(self, specs: Sequence[JobSpec], on_result: Optional[Callable[[dict], None]] = None,
            fn: Callable[[JobSpec], dict] = run_job) -> List[dict]:
        ray = self._init()
        task = ray.remote(num_cpus=1, max_retries=0)(fn)
        refs = [task.remote(s) for s in specs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: List[Optional[dict]] = [None] * len(specs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            try:
                row = ray.get(ready[0])
            except ray.exceptions.WorkerCrashedError:
                row = base_result(specs[i], "failed", WORKER_DIED)
            except ray.exceptions.RayError as e:
                row = base_result(specs[i], "failed", f"{type(e).__name__}: {str(e).strip().splitlines()[-1]}")
            results[i] = row
            if on_result is not None:
                on_result(row)
        return results


def make_executor(kind: str = "local", workers: int = 1, **options):
    """``"local"`` -> :class:`LocalExecutor`, ``"ray"`` -> :class:`RayExecutor`."""
    if kind == "local":
        return LocalExecutor(workers, **options)
    if kind == "ray":
        return RayExecutor(workers, **options)
    raise ArkitError(f"unknown executor {kind!r}; use one of {EXECUTORS}")
