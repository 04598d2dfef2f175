"""Run a session over a source and write its outputs (video, trajectory, per-frame results).

This is what ``arkit run`` does; notebooks and batch jobs call :func:`process` directly.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.trackables import TrackingState
from arkit.io.prefetch import Prefetcher  # noqa: F401 - re-exported: arkit.runner.Prefetcher

log = logging.getLogger(__name__)

STAGES = ("decode", "track", "scene", "render", "composite", "encode")

#: Video options of :func:`process`. x264 "superfast" at crf 20 costs half the CPU of "veryfast"
#: (6.7 vs 13.9 ms per 640x480 frame) for the same quality (PSNR 35.1 vs 34.5 dB on the
#: marker_room sequence) in 1.8x larger files; pass ``video_options={"preset": "veryfast"}`` for
#: smaller files, ``"ultrafast"`` (4.5 ms, 3.3x larger) for speed. x264 runs single-threaded
#: (``threads=1``) inside the encoding thread: its frame threads add 2-4 ms CPU per frame of
#: synchronisation on 2 cores, and the encoding thread already overlaps encoding with the loop.
#: ``b-adapt=0`` keeps x264's B-frame pattern fixed instead of choosing it from a look-ahead
#: analysis: 8-10% less encoder CPU in five interleaved rounds, same file size on marker_room.
VIDEO_DEFAULTS = {"crf": 20, "preset": "superfast", "options": {"threads": "1", "x264-params": "b-adapt=0"}}


@dataclass
class RunSummary:
    """What :func:`process` did.

    Attributes
    ----------
    frames : int
        Frames processed.
    seconds : float
        Wall time of the loop.
    tracked_frames : int
        Frames with TRACKING or LIMITED camera state.
    stage_ms : dict
        Mean milliseconds per frame for each stage that ran.
    outputs : dict
        Output kind -> path written.
    skipped_frames : int
        Frames the source could not read (skipped with a warning).
    interrupted : bool
        True when the run stopped early (error or Ctrl-C); outputs hold the frames done so far.
    background_cpu_ms : dict
        CPU milliseconds per frame of the background threads (``"decode"``: the prefetch
        thread, ``"encode"``: the encoding thread, x264 included when it runs single-threaded;
        a manager's name, e.g. ``"planes"``: its worker thread, for managers with a
        ``worker_cpu_s`` attribute such as :class:`arkit.session.DepthCadence`). With them, the
        ``"decode"`` and ``"encode"`` entries of ``stage_ms`` are the main loop's waits.
    child_cpu_ms : dict
        The entries of ``background_cpu_ms`` that ran in child processes (the encoder with
        ``background_encode="process"``, a stage with ``background: process``): CPU time that
        ``time.process_time()`` of this process does not include.
    """

    frames: int = 0
    seconds: float = 0.0
    tracked_frames: int = 0
    stage_ms: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    skipped_frames: int = 0
    interrupted: bool = False
    background_cpu_ms: dict = field(default_factory=dict)
    child_cpu_ms: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def tracking_coverage(self) -> float:
        return self.tracked_frames / self.frames if self.frames else 0.0


def display_available() -> bool:
    """True when a window can be opened (cv2.imshow aborts the process without a display)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class _ResultsWriter:
    """JSON lines, one object per frame, written to a temporary file and renamed at the end."""

    def __init__(self, path: Path):
        from arkit.io.atomic import temp_path_for

        self.path = Path(path)
        self._tmp = temp_path_for(self.path)
        # a large buffer: one write call per ~100 frames instead of one per frame (each line is
        # ~10 kB with planes; a write call per line cost ~1 ms of the loop thread here)
        self._f = open(self._tmp, "w", encoding="utf-8", buffering=1 << 20)

    def write(self, result) -> None:
        self._f.write(json.dumps(result.to_dict()) + "\n")

    def close(self) -> Path:
        from arkit.io.atomic import commit_temp

        self._f.close()
        return commit_temp(self._tmp, self.path)


def process(session, source, *, video_path=None, trajectory_path=None, trajectory_format: str = "tum",
            results_path=None, show: bool = False, progress: bool = False,
            max_frames: Optional[int] = None, fps: Optional[float] = None,
            on_result=None, prefetch: Optional[int] = None, background_encode=True,
            video_options: Optional[dict] = None, opencv_threads: Optional[int] = None,
            pipeline: int = 0) -> RunSummary:
    """Run ``session`` over ``source`` and write the requested outputs.

    Parameters
    ----------
    session : arkit.Session
    source : FrameSource or iterable of Frame
    video_path : path, optional
        Composited video (H.264 ``.mp4``).
    trajectory_path : path, optional
        Camera trajectory of tracked frames (``trajectory_format``: tum, kitti or euroc).
    results_path : path, optional
        One JSON object per frame (``FrameResult.to_dict()``), JSON lines.
    show : bool
        Show the composited frames in a window (ignored with a warning when there is no display).
    progress : bool
        Show a progress bar on stderr (frames, FPS, ETA).
    max_frames : int, optional
        Stop after this many frames.
    fps : float, optional
        Output video frame rate (default: the source's, else 30).
    on_result : callable(FrameResult), optional
        Called with every result after it is written (e.g. to collect statistics).
    prefetch : int, optional
        Frames decoded ahead on a background thread (:class:`Prefetcher`); 0 reads in the loop.
        Default: 4, except for webcams and ``show`` (no added latency for live views).
        Results do not depend on it.
    background_encode : {True, "process", "thread", False}
        Where the video is encoded: ``True`` / ``"process"`` in a child process
        (:class:`~arkit.io.video_writer_process.ProcessVideoWriter`: no competition with the
        loop for Python's interpreter lock), ``"thread"`` on a thread of this process
        (:class:`~arkit.io.video_writer.BackgroundVideoWriter`), ``False`` in the loop. The file
        is the same either way.
    video_options : dict, optional
        :class:`~arkit.io.video_writer.VideoWriter` options (``preset``, ``crf``, ``codec``,
        ``options``) over :data:`VIDEO_DEFAULTS` (H.264, ``crf`` 20, ``preset`` ``"superfast"``,
        x264 ``threads`` 1 and ``b-adapt=0``; a given ``options`` dict replaces the default one).
    pipeline : int
        Frames the session's perception (tracker, managers) runs ahead of its rendering on a
        worker thread (:meth:`arkit.session.Session.run`); 0 (the default) runs both in the
        loop: with the encoder and planes in child processes, interleaved runs showed no gain
        on 2 cores (55-58 FPS either way). Results do not depend on it.
    opencv_threads : int, optional
        ``cv2.setNumThreads`` during the run (restored afterwards). Default: 1 when frames are
        prefetched, since the loop's own threads (decoding, encoding, planes) already use the
        cores and OpenCV's spinning worker pool only adds CPU time (2-6 ms per 640x480 frame
        measured on 2 cores); otherwise OpenCV's setting is left alone.

    Returns
    -------
    RunSummary
        If the loop stops early (error, Ctrl-C), the outputs written so far are finalised
        (valid files holding the frames done), ``interrupted`` is set, and the error re-raised.
    """
    from tqdm import tqdm

    summary = RunSummary()
    total = getattr(source, "num_frames", None)
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    writer = None
    if video_path is not None:
        from arkit.io.video_writer import BackgroundVideoWriter, VideoWriter

        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        if background_encode in (True, "process"):
            from arkit.io.video_writer_process import ProcessVideoWriter as cls
        elif background_encode == "thread":
            cls = BackgroundVideoWriter
        else:
            cls = VideoWriter
        writer = cls(video_path, fps or getattr(source, "fps", None) or 30.0, **{**VIDEO_DEFAULTS, **(video_options or {})})
    results = None
    if results_path is not None:
        Path(results_path).parent.mkdir(parents=True, exist_ok=True)
        results = _ResultsWriter(Path(results_path))
    if show and not display_available():
        log.warning("--show ignored: no display (DISPLAY/WAYLAND_DISPLAY not set)")
        show = False
    if prefetch is None:
        prefetch = 0 if show or type(source).__name__ == "WebcamSource" else 4
    stamps, poses = [], []
    sums = {}
    bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True, file=sys.stderr, mininterval=0.5)
    if opencv_threads is None and prefetch > 0:
        opencv_threads = 1
    cv2_threads_before = None
    if opencv_threads is not None:
        import cv2

        cv2_threads_before = cv2.getNumThreads()
        cv2.setNumThreads(int(opencv_threads))
    reader = results_iter = None
    perceive_cpu0 = getattr(session, "perceive_cpu_s", 0.0)
    workers = [m for m in getattr(session, "managers", ()) if hasattr(m, "worker_cpu_s")]
    worker_cpu0 = [m.worker_cpu_s for m in workers]
    t_start = time.perf_counter()
    try:
        reader = Prefetcher(source, prefetch) if prefetch > 0 else None
        frames = reader if reader is not None else source
        results_iter = session.run(frames, pipeline=pipeline) if pipeline else session.run(frames)
        for result in results_iter:
            timings = dict(result.timings_ms)
            if writer is not None and result.image is not None:
                t0 = time.perf_counter()
                writer.write(result.image)
                timings["encode"] = (time.perf_counter() - t0) * 1e3
            if results is not None:
                results.write(result)
            if on_result is not None:
                on_result(result)
            if result.camera.tracking_state in (TrackingState.TRACKING, TrackingState.LIMITED):
                summary.tracked_frames += 1
                stamps.append(result.timestamp_s)
                poses.append(np.array(result.camera.T_world_camera))
            for k, v in timings.items():
                sums[k] = sums.get(k, 0.0) + v
            summary.frames += 1
            if show and result.image is not None:
                import cv2

                cv2.imshow("arkit", cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    log.info("window closed by the user")
                    break
            bar.update(1)
            if max_frames is not None and summary.frames >= max_frames:
                break
    except BaseException:
        summary.interrupted = True
        log.warning("stopped after %d frames; finalising the outputs written so far", summary.frames)
        raise
    finally:
        if results_iter is not None:
            results_iter.close()   # stops the perception thread (pipeline) before the reader
            if getattr(session, "perceive_cpu_s", 0.0) > perceive_cpu0:
                summary.background_cpu_ms["perceive"] = 1e3 * (session.perceive_cpu_s - perceive_cpu0) / max(summary.frames, 1)
        if reader is not None:
            reader.close()
            summary.background_cpu_ms["decode"] = 1e3 * reader.cpu_s / max(summary.frames, 1)
        for m, c0 in zip(workers, worker_cpu0):
            if m.worker_cpu_s > c0:
                summary.background_cpu_ms[m.name] = 1e3 * (m.worker_cpu_s - c0) / max(summary.frames, 1)
                if getattr(m, "mode", None) == "process":
                    summary.child_cpu_ms[m.name] = summary.background_cpu_ms[m.name]
        if cv2_threads_before is not None:
            import cv2

            cv2.setNumThreads(cv2_threads_before)
        bar.close()
        summary.seconds = time.perf_counter() - t_start
        summary.skipped_frames = int(getattr(source, "skipped_frames", 0) or 0)
        summary.stage_ms = {k: v / max(summary.frames, 1) for k, v in sums.items()}
        video_error = None
        if writer is not None:
            try:
                p = writer.close()
            except Exception as e:  # noqa: BLE001 - raised below, after the other outputs are finalised
                video_error, p = e, None
                summary.interrupted = True
            if p is not None:
                summary.outputs["video"] = str(p)
            if hasattr(writer, "encode_cpu_s"):
                summary.background_cpu_ms["encode"] = 1e3 * writer.encode_cpu_s / max(summary.frames, 1)
                if getattr(writer, "in_child_process", False):
                    summary.child_cpu_ms["encode"] = summary.background_cpu_ms["encode"]
        if results is not None:
            summary.outputs["results"] = str(results.close())
        if trajectory_path is not None:
            from arkit.io.trajectory_formats import Trajectory, write_trajectory

            Path(trajectory_path).parent.mkdir(parents=True, exist_ok=True)
            traj = Trajectory(np.asarray(stamps, dtype=np.float64),
                              np.asarray(poses).reshape(-1, 4, 4) if poses else np.zeros((0, 4, 4)))
            write_trajectory(traj, trajectory_path, trajectory_format)
            summary.outputs["trajectory"] = str(trajectory_path)
        if show:
            import cv2

            cv2.destroyAllWindows()
    if video_error is not None:
        raise video_error
    return summary
