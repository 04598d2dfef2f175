"""``run_batch``: plan the jobs, skip finished ones, run the rest, write the summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from arkit.batch.executors import make_executor
from arkit.batch.jobs import plan_jobs, read_done, single_core_jobs
from arkit.batch.summary import write_summary

log = logging.getLogger(__name__)


def run_batch(inputs: Sequence[str], scene, out_dir, *, workers: int = 1, executor: str = "local",
              on_result: Optional[Callable[[dict], None]] = None, faults: Optional[dict] = None,
              **job_options) -> List[dict]:
    """Process every input with ``scene`` into ``out_dir/<job>/`` and summarise.

    Parameters
    ----------
    inputs : list of str
        Files, folders and glob patterns (:func:`arkit.batch.jobs.expand_inputs`).
    scene : str or Path
        Scene file.
    out_dir : str or Path
        Batch folder: one sub-folder per job, plus ``summary.json`` and ``summary.csv``.
    workers : int
        Parallel jobs.
    executor : {"local", "ray"}
    on_result : callable(dict), optional
        Called with each job's result row as it finishes (skipped jobs first).
    faults : dict, optional
        Job name -> fault injection (see :class:`arkit.batch.jobs.JobSpec`); for tests.
    **job_options
        :class:`arkit.batch.jobs.JobSpec` fields: ``tracking``, ``video``, ``results``,
        ``trajectory_format``, ``renderer``, ``max_frames``, ``single_core`` (default: when
        ``workers`` jobs leave fewer spare cores than jobs, :func:`arkit.batch.jobs.single_core_jobs`).

    Returns
    -------
    list of dict
        One row per job in input order: name, input, status (done | skipped | failed), frames,
        seconds, fps, tracking_coverage, planes, trackables, error, out_dir, log.
    """
    job_options.setdefault("single_core", single_core_jobs(workers))
    specs = plan_jobs(inputs, scene, out_dir, **job_options)
    if faults:
        from dataclasses import replace

        specs = [replace(s, fault=faults.get(s.name)) for s in specs]
    rows: List[Optional[dict]] = [None] * len(specs)
    todo = []
    for i, s in enumerate(specs):
        done = read_done(s)
        if done is not None:
            rows[i] = dict(done["result"], status="skipped")
            log.info("job %s already finished; skipped", s.name)
            if on_result is not None:
                on_result(rows[i])
        else:
            todo.append(i)
    if todo:
        ran = make_executor(executor, workers).map([specs[i] for i in todo], on_result=on_result)
        for i, row in zip(todo, ran):
            rows[i] = row
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_summary(rows, out_dir)
    return rows
