"""Accuracy and relocalisation figures of :class:`VisualTracker` on generated sequences (for
``benchmarks/tracking.py`` and the tests).

- :func:`run_monocular`: monocular tracking (no depth given to the tracker) on a generated
  sequence; Sim(3)-aligned ATE, the initialisation frame, frames lost after initialisation.
- :func:`run_turn_away`: a path that turns away from the mapped area and comes back (recipe
  ``look_away`` by default, or ``turn_away``); frames from "returning" to relocalisation, and
  the accuracy after relocalisation in the alignment computed before the loss (the world frame
  must not change).

**Returning** (ground truth, :func:`map_overlap`): the map at the first LOST frame is moved into
the ground-truth world with the alignment of the trajectory tracked before the loss (SE(3) for
RGB-D, Sim(3) for monocular; see :func:`align_before`). A map point is *visible* in frame ``i`` when, with the
ground-truth pose, it projects inside the image in front of the camera and agrees with the
ground-truth depth there within 10% + 10 cm (not occluded). ``overlap[i]`` is the number of visible map points
divided by the median number visible over the tracked frames before the loss. The view
has *left* the map at the first frame from the loss on with ``overlap < threshold``; the
**returning frame** is the first frame after that with ``overlap >= threshold`` (0.3 by
default); when the view never left the map, it is the first LOST frame.
**Relocalised frame**: the first TRACKING or LIMITED frame after the view left the map;
**frames to relocalise** = max(0, relocalised frame - returning frame) (0 when the tracker came
back before the overlap reached the threshold).

>>> from arkit.tracking.vslam.synthetic_eval import run_turn_away     # doctest: +SKIP
>>> run_turn_away(mode="rgbd")["frames_to_relocalise"]               # doctest: +SKIP
3
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from arkit.core.pose import invert

log = logging.getLogger(__name__)

#: Depth images are kept at 1/DEPTH_STEP resolution for the visibility test.
DEPTH_STEP = 4
TRACKED = ("TRACKING", "LIMITED")


@dataclass
class SequenceRun:
    """One tracker run over a sequence.

    Attributes
    ----------
    poses : (N, 4, 4) float64
        Estimated ``T_world_camera`` per frame.
    gt : (N, 4, 4) float64
        Ground-truth ``T_world_camera``.
    timestamps_s : (N,) float64
    states, reasons : list of str
    cpu_ms : float
        Mean process CPU time per ``track`` call.
    map_at_loss : (M, 3) float64 or None
        Live map point positions (tracker world) at the first LOST frame after initialisation.
    loss_frame : int or None
    depth_small : list of (h, w) float32
        Ground-truth depth subsampled by :data:`DEPTH_STEP`.
    """

    poses: np.ndarray
    gt: np.ndarray
    timestamps_s: np.ndarray
    states: list
    reasons: list
    cpu_ms: float
    intrinsics: object
    map_at_loss: np.ndarray | None = None
    loss_frame: int | None = None
    depth_small: list = field(default_factory=list, repr=False)

    @property
    def init_frame(self) -> int | None:
        """First frame that is not NOT_INITIALIZED."""
        idx = [i for i, s in enumerate(self.states) if s != "NOT_INITIALIZED"]
        return idx[0] if idx else None


def sequence_folder(recipe: str, num_frames: int, width: int, height: int, seed: int = 0):
    """The cached generated sequence (generated on first use, see :mod:`arkit.synthetic.cache`)."""
    from arkit.synthetic import ensure_builtin_sequence

    return ensure_builtin_sequence(recipe, num_frames, width, height, seed)


def track_sequence(folder, config) -> SequenceRun:
    """Run a fresh :class:`VisualTracker` with ``config`` over a TUM-layout folder (depth is read
    for the ground truth; the tracker ignores it when ``config.mode == "mono"``)."""
    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.tracking.vslam.tracker import VisualTracker

    tracker = VisualTracker(config)
    poses, gt, ts, states, reasons, depth_small = [], [], [], [], [], []
    map_at_loss, loss_frame, K, cpu = None, None, None, 0.0
    try:
        for i, f in enumerate(TumRgbdSource(folder)):
            K = f.intrinsics
            c0 = time.process_time()
            out = tracker.track(f)
            cpu += time.process_time() - c0
            s = out.camera.tracking_state.value
            if s == "LOST" and loss_frame is None and any(x in TRACKED for x in states):
                loss_frame = i
                tracker.wait_for_mapping()
                map_at_loss = tracker.map.positions[tracker.map.alive_ids].copy()
            poses.append(out.camera.T_world_camera.copy())
            gt.append(f.T_world_camera_recorded)
            ts.append(f.timestamp_s)
            states.append(s)
            reasons.append(out.camera.reason)
            depth_small.append(None if f.depth_m is None else f.depth_m[::DEPTH_STEP, ::DEPTH_STEP].copy())
    finally:
        tracker.close()
    return SequenceRun(np.array(poses), np.array(gt), np.array(ts), states, reasons,
                       1000.0 * cpu / max(len(states), 1), K, map_at_loss, loss_frame, depth_small)


def align_before(run: SequenceRun, end: int, sim3: bool):
    """Similarity ``T_gt_est`` (4, 4) and scale fitted on the tracked frames before ``end``.

    The rotation is the chordal mean of ``R_gt_i @ R_est_i^T`` (orientations make it well
    posed even for a short, nearly straight trajectory, where a positions-only Umeyama fit can
    flip about the path), then scale (``sim3``) and translation by least squares on positions.
    """
    idx = [i for i in range(end) if run.states[i] in TRACKED]
    E, G = run.poses[idx], run.gt[idx]
    M = np.einsum("nij,nkj->ik", G[:, :3, :3], E[:, :3, :3])
    U, _, Vt = np.linalg.svd(M)
    R = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    e = E[:, :3, 3] @ R.T
    g = G[:, :3, 3]
    ec, gc = e - e.mean(0), g - g.mean(0)
    s = float((ec * gc).sum() / max((ec * ec).sum(), 1e-18)) if sim3 and len(idx) > 1 else 1.0
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = s * R, g.mean(0) - s * e.mean(0)
    return T, s


def aligned_errors_m(run: SequenceRun, T_gt_est: np.ndarray, frames) -> np.ndarray:
    """Position errors (K,) of ``frames`` after applying the similarity ``T_gt_est``."""
    frames = np.asarray(frames, np.int64)
    if len(frames) == 0:
        return np.zeros(0)
    p = run.poses[frames, :3, 3] @ T_gt_est[:3, :3].T + T_gt_est[:3, 3]
    return np.linalg.norm(p - run.gt[frames, :3, 3], axis=1)


def visible_counts(points_gt_world: np.ndarray, run: SequenceRun, frames, rel_tol: float = 0.1,
                   abs_tol_m: float = 0.1) -> np.ndarray:
    """Map points (world, ground-truth frame) visible and unoccluded with each ground-truth pose:
    inside the image, in front of the camera, and within ``rel_tol * z + abs_tol_m`` of the
    ground-truth depth at their pixel (loose enough for a monocular map's error, tight enough to
    drop points behind a wall)."""
    K = run.intrinsics
    out = []
    for i in frames:
        T_cw = invert(run.gt[i])
        Xc = points_gt_world @ T_cw[:3, :3].T + T_cw[:3, 3]
        z = Xc[:, 2]
        front = z > 0.05
        Xc, z = Xc[front], z[front]
        u = K.fx * Xc[:, 0] / z + K.cx
        v = K.fy * Xc[:, 1] / z + K.cy
        ins = (u >= 0) & (u < K.width) & (v >= 0) & (v < K.height)
        d = run.depth_small[i]
        if d is None:
            out.append(int(ins.sum()))
            continue
        ui = np.clip((u[ins] / DEPTH_STEP).astype(int), 0, d.shape[1] - 1)
        vi = np.clip((v[ins] / DEPTH_STEP).astype(int), 0, d.shape[0] - 1)
        dz = d[vi, ui]
        out.append(int(((dz > 0) & (np.abs(dz - z[ins]) < rel_tol * z[ins] + abs_tol_m)).sum()))
    return np.array(out, np.int64)


def map_overlap(run: SequenceRun, sim3: bool, threshold: float = 0.3) -> dict:
    """Ground-truth overlap of each frame from the loss on with the map at the loss, and the
    returning frame (see the module docstring). Empty dict when the tracker was never LOST."""
    if run.loss_frame is None or run.map_at_loss is None or len(run.map_at_loss) == 0:
        return {}
    L = run.loss_frame
    T, _ = align_before(run, L, sim3)
    P = run.map_at_loss @ T[:3, :3].T + T[:3, 3]
    before = [i for i in range(L) if run.states[i] in TRACKED]
    n_ref = max(float(np.median(visible_counts(P, run, before))), 1.0)
    frames = np.arange(L, len(run.states))
    overlap = visible_counts(P, run, frames) / n_ref
    left = np.flatnonzero(overlap < threshold)
    if len(left) == 0:
        returning = L
    else:
        back = np.flatnonzero((overlap >= threshold) & (frames > frames[left[0]]))
        returning = int(frames[back[0]]) if len(back) else None
    return {"overlap": overlap, "frames": frames, "n_ref": n_ref, "returning_frame": returning,
            "left_frame": int(frames[left[0]]) if len(left) else None, "T_gt_est": T}


def run_monocular(recipe: str = "textured_room", num_frames: int = 300, width: int = 640, height: int = 480,
                  seed: int = 0, config=None, folder=None) -> dict:
    """Monocular tracking on a generated sequence (the tracker is given no depth).

    Returns
    -------
    dict
        ``ate_rmse_m`` / ``ate_max_m`` (Sim(3)-aligned, :func:`arkit.eval.trajectory.ate`, over
        the frames from initialisation on), ``init_frame``, ``lost_after_init`` (LOST frames
        after initialisation), ``states`` (counts), ``cpu_ms_per_frame``, ``n_frames``, ``run``.
    """
    from arkit.eval.trajectory import ate
    from arkit.io.trajectory_formats import Trajectory
    from arkit.tracking.vslam.tracker import VisualTrackerConfig

    config = config or VisualTrackerConfig(mode="mono")
    if config.mode != "mono":
        raise ValueError(f"run_monocular needs a config with mode='mono', got {config.mode!r}")
    folder = folder or sequence_folder(recipe, num_frames, width, height, seed)
    run = track_sequence(folder, config)
    i0 = run.init_frame
    res = {"recipe": recipe, "n_frames": len(run.states), "init_frame": i0, "cpu_ms_per_frame": run.cpu_ms,
           "states": {s: run.states.count(s) for s in sorted(set(run.states))}, "run": run,
           "ate_rmse_m": float("nan"), "ate_max_m": float("nan"), "lost_after_init": None}
    if i0 is None:
        return res
    sl = slice(i0, None)
    r = ate(Trajectory(run.timestamps_s[sl], run.poses[sl]), Trajectory(run.timestamps_s[sl], run.gt[sl]), align="sim3")
    res.update(ate_rmse_m=r.rmse_m, ate_max_m=r.max_m, lost_after_init=run.states[sl].count("LOST"))
    return res


def run_turn_away(mode: str = "rgbd", num_frames: int = 300, width: int = 640, height: int = 480, seed: int = 0,
                  config=None, threshold: float = 0.3, recipe: str = "look_away", folder=None) -> dict:
    """Track a turn-away path and measure relocalisation (definitions in the module docstring).

    The default recipe ``look_away`` turns to a bare wall (the tracker is LOST there) and comes
    back to the viewpoint it left. ``turn_away`` (textured walls; the orbit goes on while the
    camera is turned away, so it comes back about 1 m from, and 35-150 degrees rotated from, any
    viewpoint of the map) measures tracking through the turn and drift rather than relocalisation.

    Parameters
    ----------
    mode : {"rgbd", "mono"}
    config : VisualTrackerConfig, optional
        Default: ``VisualTrackerConfig(mode=mode)``.
    threshold : float
        Overlap defining "in view of the map".

    Returns
    -------
    dict
        ``loss_frame`` (first LOST frame after initialisation; None if never lost, and then
        the relocalisation fields stay None and ``rmse_before_m`` covers the whole run),
        ``left_frame``,
        ``returning_frame``, ``relocalised_frame``, ``frames_to_relocalise``,
        ``lost_after_relocalisation`` (LOST frames from the relocalised frame on),
        ``rmse_before_m`` (tracked frames before the loss, in their own alignment),
        ``rmse_after_m`` / ``max_after_m`` (tracked frames from relocalisation on, in the
        alignment fitted before the loss), ``scale``
        (Sim(3) scale, 1 for RGB-D), ``lost_frames``, ``states``, ``cpu_ms_per_frame``, ``run``.
    """
    from arkit.tracking.vslam.tracker import VisualTrackerConfig

    if mode not in ("rgbd", "mono"):
        raise ValueError(f"mode must be 'rgbd' or 'mono', got {mode!r}")
    config = config or VisualTrackerConfig(mode=mode)
    folder = folder or sequence_folder(recipe, num_frames, width, height, seed)
    run = track_sequence(folder, config)
    sim3 = mode == "mono"
    res = {"mode": mode, "n_frames": len(run.states), "init_frame": run.init_frame, "loss_frame": run.loss_frame,
           "lost_frames": run.states.count("LOST"), "cpu_ms_per_frame": run.cpu_ms,
           "states": {s: run.states.count(s) for s in sorted(set(run.states))}, "run": run,
           "left_frame": None, "returning_frame": None, "relocalised_frame": None, "frames_to_relocalise": None,
           "rmse_before_m": float("nan"), "rmse_after_m": float("nan"), "max_after_m": float("nan"), "scale": 1.0}
    if run.loss_frame is None:
        if run.init_frame is not None:
            T, s = align_before(run, len(run.states), sim3)
            tracked = [i for i, x in enumerate(run.states) if x in TRACKED]
            res.update(rmse_before_m=float(np.sqrt(np.mean(aligned_errors_m(run, T, tracked) ** 2))), scale=s)
        return res
    ov = map_overlap(run, sim3, threshold)
    T = ov["T_gt_est"]
    res["scale"] = float(np.cbrt(np.linalg.det(T[:3, :3])))
    before = [i for i in range(run.loss_frame) if run.states[i] in TRACKED]
    res["rmse_before_m"] = float(np.sqrt(np.mean(aligned_errors_m(run, T, before) ** 2)))
    res.update(left_frame=ov["left_frame"], returning_frame=ov["returning_frame"],
               overlap=ov["overlap"], overlap_frames=ov["frames"])
    R = ov["returning_frame"]
    if R is None:
        return res
    # first tracked frame once the view had left the map (it may come a little before the
    # returning frame: the relocaliser needs less than the overlap threshold)
    start = ov["left_frame"] if ov["left_frame"] is not None else run.loss_frame
    reloc = [i for i in range(start, len(run.states)) if run.states[i] in TRACKED]
    if not reloc:
        return res
    after = reloc
    err = aligned_errors_m(run, T, after)
    res.update(relocalised_frame=reloc[0], frames_to_relocalise=max(0, reloc[0] - R),
               lost_after_relocalisation=sum(run.states[i] == "LOST" for i in range(reloc[0], len(run.states))),
               rmse_after_m=float(np.sqrt(np.mean(err ** 2))), max_after_m=float(err.max()))
    return res


def format_monocular(res: dict) -> str:
    """One line for :func:`run_monocular`'s result (for benchmarks)."""
    return (f"mono {res['recipe']} {res['n_frames']} frames: Sim(3) ATE RMSE {100 * res['ate_rmse_m']:.2f} cm "
            f"(max {100 * res['ate_max_m']:.2f} cm), initialised at frame {res['init_frame']}, "
            f"{res['lost_after_init']} frames LOST after initialisation, {res['cpu_ms_per_frame']:.1f} ms CPU/frame, "
            f"states {res['states']}")


def format_turn_away(res: dict) -> str:
    """One line for :func:`run_turn_away`'s result (for benchmarks)."""
    head = f"{res['mode']} {res['n_frames']} frames:"
    if res["loss_frame"] is None:
        return (f"{head} never LOST (states {res['states']}); RMSE {100 * res['rmse_before_m']:.2f} cm over the "
                f"tracked frames")
    if res["relocalised_frame"] is None:
        return (f"{head} LOST at frame {res['loss_frame']}, view left the map at {res['left_frame']}, returned at "
                f"{res['returning_frame']}, not relocalised (states {res['states']})")
    return (f"{head} LOST at frame {res['loss_frame']}, view left the map at {res['left_frame']}, returned at "
            f"{res['returning_frame']}, relocalised at {res['relocalised_frame']}: {res['frames_to_relocalise']} "
            f"frames after returning (target <= 10); {res['lost_after_relocalisation']} LOST frames after; "
            f"position RMSE in the pre-loss alignment {100 * res['rmse_before_m']:.2f} cm before the loss, "
            f"{100 * res['rmse_after_m']:.2f} cm after relocalisation (max {100 * res['max_after_m']:.2f} cm); "
            f"scale {res['scale']:.3f}")
