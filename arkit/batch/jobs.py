"""Batch jobs: one input recording -> one output folder, idempotent and crash-safe.

A job folder holds ``video.mp4``, ``trajectory.txt``, ``results.jsonl``, ``job.log`` and, written
LAST, ``DONE.json`` (the job's summary and the fingerprint of its input and options). A job
whose ``DONE.json`` matches its fingerprint is skipped; a folder without it (an interrupted or
crashed job) is deleted and the job redone. A finished-looking folder therefore always holds
complete outputs.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Sequence

log = logging.getLogger(__name__)

DONE_FILE = "DONE.json"
LOG_FILE = "job.log"
VIDEO_FILE = "video.mp4"
TRAJECTORY_FILE = "trajectory.txt"
RESULTS_FILE = "results.jsonl"
TRACKING_MODES = ("scene", "recorded")


@dataclass(frozen=True)
class JobSpec:
    """One job (picklable; every path absolute).

    Parameters
    ----------
    name : str
        Job folder name under the batch output folder.
    input : str
        Source to process (anything :func:`arkit.open_source` opens, usually a recording).
    out_dir : str
        The job's folder.
    scene : str
        Scene file.
    tracking : {"scene", "recorded"}
        ``"scene"``: run the scene's tracker and stages; ``"recorded"``: replay an arkit
        recording's tracking, planes and recognition (:func:`arkit.recording.replay.replay_session`).
    video, results : bool
        Write ``video.mp4`` / ``results.jsonl`` (the trajectory is always written).
    trajectory_format : {"tum", "kitti", "euroc"}
    renderer : str, optional
        Renderer backend override.
    max_frames : int, optional
    fault : str, optional
        Fault injection to test crash handling: ``"raise:N"`` raises at frame N, ``"exit:N"``
        ends the worker process abruptly (``os._exit``) at frame N. Not part of the fingerprint.
    single_core : bool
        Run the job on one core: decoding, planes and H.264 encoding (one x264 thread) in the
        loop, one OpenCV and one llvmpipe thread; for batches whose parallel jobs already fill the
        cores (:func:`single_core_jobs`), where a job's own helper threads and processes only
        add overhead. Same results; not part of the fingerprint.
    """

    name: str
    input: str
    out_dir: str
    scene: str
    tracking: str = "scene"
    video: bool = True
    results: bool = True
    trajectory_format: str = "tum"
    renderer: Optional[str] = None
    max_frames: Optional[int] = None
    fault: Optional[str] = None
    single_core: bool = False

    def fingerprint(self) -> dict:
        """What makes a finished job reusable: input (path, size, mtime), scene file and options."""
        d = {k: v for k, v in asdict(self).items() if k not in ("name", "out_dir", "fault", "single_core")}
        d["input_stat"] = _stat(self.input)
        d["scene_stat"] = _stat(self.scene)
        return d


def _stat(path: str):
    p = Path(path)
    if p.is_dir():
        for marker in ("recording.json", "rgb.txt"):
            if (p / marker).is_file():
                p = p / marker
                break
    try:
        st = p.stat()
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return None


# -- planning ------------------------------------------------------------------------------------
def _is_source_folder(p: Path) -> bool:
    from arkit.io.sources import registered_readers
    from arkit.io.tum_rgbd import is_tum_folder

    if is_tum_folder(p):
        return True
    for r in registered_readers():
        try:
            if r.probe(str(p)):
                return True
        except Exception:  # noqa: BLE001 - probes must not break planning
            continue
    return False


def expand_inputs(inputs: Sequence[str]) -> List[Path]:
    """Files, folders and glob patterns -> the list of inputs, one per job (sorted, no duplicates).

    A folder that is itself a source (a recording, TUM folder or any registered dataset) is one
    input; any other folder expands to the recordings, dataset folders and videos directly in
    it. Paths that do not exist are kept (their job then fails with a clear error); a glob that
    matches nothing is logged and skipped.
    """
    from arkit.io.video_source import VIDEO_EXTENSIONS

    out: List[Path] = []
    for item in inputs:
        s = os.fspath(item)
        matches = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
        if not matches:
            log.warning("input pattern %s matches nothing", s)
        for m in matches:
            p = Path(m).absolute()
            if p.is_dir() and not _is_source_folder(p):
                children = [c for c in sorted(p.iterdir()) if not c.name.startswith(".") and
                            ((c.is_dir() and _is_source_folder(c)) or
                             (c.is_file() and c.suffix.lower() in VIDEO_EXTENSIONS))]
                out.extend(children if children else [p])
            else:
                out.append(p)
    seen, unique = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def job_names(paths: Sequence[Path]) -> List[str]:
    """Folder name per input: its file/folder stem, plus a short hash of the path when two stems collide."""
    stems = [p.stem if p.is_file() or p.suffix else p.name for p in paths]
    counts = {s: stems.count(s) for s in stems}
    return [s if counts[s] == 1 else f"{s}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"
            for s, p in zip(stems, paths)]


def plan_jobs(inputs: Sequence[str], scene, out_dir, **options) -> List[JobSpec]:
    """One :class:`JobSpec` per input (see :func:`expand_inputs`); ``options`` are JobSpec fields."""
    paths = expand_inputs(inputs)
    out = Path(out_dir).absolute()
    scene = str(Path(scene).absolute())
    return [JobSpec(name=n, input=str(p), out_dir=str(out / n), scene=scene, **options)
            for n, p in zip(job_names(paths), paths)]


def read_done(spec: JobSpec) -> Optional[dict]:
    """The job's ``DONE.json`` when it exists and matches the job's fingerprint, else None."""
    p = Path(spec.out_dir) / DONE_FILE
    try:
        done = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if done.get("fingerprint") != json.loads(json.dumps(spec.fingerprint())):
        return None
    return done


# -- running -------------------------------------------------------------------------------------
def single_core_jobs(workers: int, cores: Optional[int] = None) -> bool:
    """Whether ``workers`` parallel jobs should each run on one core (:attr:`JobSpec.single_core`):
    when the cores left over are fewer than the jobs, a job's helper threads and processes
    (decoding, planes, encoding) compete with the other jobs instead of using idle cores."""
    cores = cores or os.cpu_count() or 1
    return workers > 1 and cores - workers < workers


def base_result(spec: JobSpec, status: str, error: str = "") -> dict:
    """A result row with no figures (failed or not run)."""
    return {"name": spec.name, "input": spec.input, "status": status, "frames": 0, "seconds": 0.0, "fps": 0.0,
            "tracking_coverage": 0.0, "planes": 0, "trackables": 0, "error": error, "out_dir": spec.out_dir,
            "log": str(Path(spec.out_dir) / LOG_FILE)}


class _Stats:
    """Per-result callback: distinct plane/trackable ids and fault injection."""

    def __init__(self, fault: Optional[str]):
        self.planes, self.trackables = set(), set()
        self.n = 0
        self.fault_mode, self.fault_at = None, -1
        if fault:
            mode, _, at = fault.partition(":")
            self.fault_mode, self.fault_at = mode, int(at or 0)

    def __call__(self, result) -> None:
        for t in result.trackables:
            self.trackables.add(t.id)
            if t.kind == "plane":
                self.planes.add(t.id)
        if self.n == self.fault_at:
            if self.fault_mode == "exit":
                logging.getLogger(__name__).error("fault injection: ending the worker at frame %d", self.n)
                logging.shutdown()
                os._exit(17)
            raise RuntimeError(f"fault injection: error raised at frame {self.n}")
        self.n += 1


def _execute(spec: JobSpec) -> dict:
    overrides = {"renderer_backend": spec.renderer} if spec.renderer else {}
    if not spec.single_core:
        return _execute_with(spec, overrides, {})
    log.info("job %s: single core (decoding, planes and encoding in the loop; one OpenCV, x264 and "
             "llvmpipe thread)", spec.name)
    # llvmpipe reads LP_NUM_THREADS when the job's GL context is created
    old = os.environ.get("LP_NUM_THREADS")
    os.environ["LP_NUM_THREADS"] = "1"
    try:
        return _execute_with(spec, dict(overrides, planes_background=False),
                             dict(prefetch=0, background_encode=False, opencv_threads=1))
    finally:
        if old is None:
            os.environ.pop("LP_NUM_THREADS", None)
        else:
            os.environ["LP_NUM_THREADS"] = old


def _execute_with(spec: JobSpec, overrides: dict, helpers: dict) -> dict:
    """:func:`_execute` with Session overrides and :func:`arkit.runner.process` options."""
    from arkit.core.errors import ArkitError
    from arkit.io.sources import open_source
    from arkit.runner import process
    from arkit.session import Session

    tracker = None
    if spec.tracking == "recorded":
        from arkit.recording.replay import replay_session

        session, source, tracker = replay_session(spec.input, spec.scene, **overrides)
    elif spec.tracking == "scene":
        source = open_source(spec.input)
        session = Session.from_scene(spec.scene, **overrides)
    else:
        raise ArkitError(f"job {spec.name}: tracking must be one of {TRACKING_MODES}, got {spec.tracking!r}")
    out = Path(spec.out_dir)
    stats = _Stats(spec.fault)
    try:
        with source, session:
            summary = process(session, source, video_path=out / VIDEO_FILE if spec.video else None,
                              trajectory_path=out / TRAJECTORY_FILE, trajectory_format=spec.trajectory_format,
                              results_path=out / RESULTS_FILE if spec.results else None,
                              max_frames=spec.max_frames, on_result=stats, **helpers)
    finally:
        if tracker is not None:
            tracker.close()
    if summary.frames == 0:
        raise ArkitError(f"{spec.input}: the source yielded no frames")
    return {"frames": summary.frames, "seconds": round(summary.seconds, 4), "fps": round(summary.fps, 3),
            "tracking_coverage": round(summary.tracking_coverage, 4), "planes": len(stats.planes),
            "trackables": len(stats.trackables), "skipped_frames": summary.skipped_frames,
            "stage_ms": {k: round(v, 3) for k, v in summary.stage_ms.items()},
            "outputs": {k: os.path.relpath(v, out) for k, v in summary.outputs.items()}}


def _remove_outputs(out: Path) -> None:
    """Delete everything but the log from a failed job's folder (no finished-looking outputs)."""
    for p in out.iterdir():
        if p.name != LOG_FILE:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


def run_job(spec: JobSpec) -> dict:
    """Run one job in this process and return its result row (never raises for job errors).

    Skips a finished job; clears a partial folder first; writes ``DONE.json`` last on success.
    Errors are logged to the job's ``job.log`` and returned as ``status="failed"`` with the
    message in ``error``.
    """
    from arkit.batch.summary import job_log

    done = read_done(spec)
    if done is not None:
        return dict(done["result"], status="skipped")
    out = Path(spec.out_dir)
    if out.exists():
        if out.is_dir() and (not any(out.iterdir()) or (out / LOG_FILE).exists() or (out / DONE_FILE).exists()):
            log.info("job %s: clearing the unfinished folder %s", spec.name, out)
            shutil.rmtree(out)
        else:
            return base_result(spec, "failed", f"{out} exists and is not an arkit job folder (no {LOG_FILE}); "
                                               f"move it away or choose another --out")
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    with job_log(out / LOG_FILE) as jlog:
        jlog.info("job %s: %s -> %s (scene %s, tracking %s)", spec.name, spec.input, out, spec.scene, spec.tracking)
        try:
            figures = _execute(spec)
        except Exception as e:  # noqa: BLE001 - a job error must not take the batch down
            jlog.exception("job %s failed", spec.name)
            _remove_outputs(out)
            return base_result(spec, "failed", f"{type(e).__name__}: {e}")
        result = dict(base_result(spec, "done"), **figures)
        result["wall_s"] = round(time.perf_counter() - t0, 4)
        jlog.info("job %s done: %d frames, %.1f FPS, tracked %.0f%%", spec.name, result["frames"], result["fps"],
                  100 * result["tracking_coverage"])
    from arkit.io.atomic import atomic_write_text

    atomic_write_text(out / DONE_FILE, json.dumps({"result": result, "fingerprint": spec.fingerprint()}, indent=1))
    return result
