"""What batch jobs report: a log file per job and the summary table of the batch.

``summary.json`` holds the list of result rows; ``summary.csv`` the same rows with the columns
of :data:`COLUMNS`. Both are written atomically into the batch output folder.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
from pathlib import Path
from typing import Iterator, List, Sequence

COLUMNS = ("name", "status", "frames", "seconds", "fps", "tracking_coverage", "planes", "trackables", "error",
           "input", "out_dir")
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"


@contextlib.contextmanager
def job_log(path, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Send arkit's log records (and Python warnings) to ``path`` while the block runs.

    Yields the ``arkit.batch.job`` logger for the job's own messages.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger("arkit"), logging.getLogger("py.warnings")]
    old_levels = [lg.level for lg in loggers]
    logging.captureWarnings(True)
    for lg in loggers:
        lg.addHandler(handler)
        if lg.level == logging.NOTSET or lg.level > level:
            lg.setLevel(level)
    try:
        yield logging.getLogger("arkit.batch.job")
    finally:
        for lg, old in zip(loggers, old_levels):
            lg.removeHandler(handler)
            lg.setLevel(old)
        handler.close()


def _cell(row: dict, col: str) -> str:
    v = row.get(col, "")
    if col == "tracking_coverage" and isinstance(v, (int, float)):
        return f"{100 * v:.0f}%"
    if col in ("seconds", "fps") and isinstance(v, (int, float)):
        return f"{v:.1f}"
    return str(v)


def format_table(rows: Sequence[dict], columns=("name", "status", "frames", "fps", "tracking_coverage", "planes",
                                                 "error")) -> str:
    """A plain-text table of result rows (long errors shortened), plus a totals line."""
    head = {"tracking_coverage": "tracked", "fps": "FPS"}
    table = [[head.get(c, c) for c in columns]]
    for r in rows:
        cells = [_cell(r, c) for c in columns]
        table.append([c if len(c) <= 80 else c[:77] + "..." for c in cells])
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    by = {s: sum(1 for r in rows if r.get("status") == s) for s in ("done", "skipped", "failed")}
    frames = sum(int(r.get("frames") or 0) for r in rows)
    lines.append(f"{len(rows)} jobs: {by['done']} done, {by['skipped']} skipped (already finished), "
                 f"{by['failed']} failed; {frames} frames")
    return "\n".join(lines)


def write_summary(rows: Sequence[dict], out_dir) -> List[Path]:
    """Write ``summary.json`` and ``summary.csv`` into ``out_dir``; returns both paths."""
    from arkit.io.atomic import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in COLUMNS})
    return [atomic_write_text(out / SUMMARY_JSON, json.dumps(list(rows), indent=1)),
            atomic_write_text(out / SUMMARY_CSV, buf.getvalue())]
