"""Batch processing of recordings: one idempotent, crash-safe job per input.

* :func:`run_batch` (``arkit process``): plan, skip finished jobs, run the rest, summarise;
* :mod:`.jobs`: job planning, the job folder contract (``DONE.json`` written last), ``run_job``;
* :mod:`.executors`: local worker processes (default) or Ray (optional extra);
* :mod:`.summary`: per-job log files and the summary table / ``summary.json`` / ``summary.csv``.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "run_batch": "arkit.batch.run",
    "JobSpec": "arkit.batch.jobs",
    "plan_jobs": "arkit.batch.jobs",
    "run_job": "arkit.batch.jobs",
    "LocalExecutor": "arkit.batch.executors",
    "RayExecutor": "arkit.batch.executors",
    "format_table": "arkit.batch.summary",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'arkit.batch' has no attribute {name!r}")
