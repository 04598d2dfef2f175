"""Trajectory accuracy: timestamp association, Umeyama alignment, ATE and RPE.

The definitions follow the TUM RGB-D benchmark (Sturm et al., IROS 2012) as implemented by
`evo <https://github.com/MichaelGrupp/evo>`_, so that the numbers agree with ``evo_ape`` and
``evo_rpe`` (checked in ``tests/eval/test_evo_crosscheck.py``):

Association
    :func:`associate` pairs each estimated stamp with a ground-truth stamp at most
    ``max_diff_s`` away, one-to-one, closest pairs first (TUM's ``associate.py``). evo's
    ``sync.associate_trajectories`` picks the nearest stamp per pose of the shorter trajectory;
    both give the same pairs unless a trajectory repeats a timestamp or ``max_diff_s`` exceeds
    half the sampling interval. ``one_to_one=False`` reproduces evo's rule exactly.
Alignment (``align=``)
    ``"se3"``: rotation + translation by Umeyama's least squares on the associated positions
    (``evo_ape -a``). ``"sim3"``: the same plus one scale (``evo_ape -as``); the scale
    multiplies the estimate's translations, rotations are unchanged. ``"origin"``: the first
    estimated pose is moved onto the first ground-truth pose (``evo_ape --align_origin``).
    ``"none"``: poses compared as they are.
ATE (absolute trajectory error)
    ``e_i = || p_gt_i - p_est_aligned_i ||`` in metres: evo's APE with
    ``PoseRelation.translation_part``. Statistics: RMSE, mean, median, population std, max.
RPE (relative pose error)
    For index pairs ``(i, j)``: ``E = (Q_i^-1 Q_j)^-1 (P_i^-1 P_j)`` with ``Q`` ground truth and
    ``P`` the (aligned) estimate. Translation error ``||t(E)||`` in metres
    (``translation_part``), rotation error the angle of ``R(E)`` in degrees
    (``rotation_angle_deg``). Pairs come from the estimate, consecutively (``(0, d), (d, 2d),
    ...``) or, with ``all_pairs``, from every start index, exactly as evo's
    ``filter_pairs_by_index`` / ``filter_pairs_by_path``. ``delta_unit="s"`` uses elapsed time
    the way ``"m"`` uses travelled path (arkit's addition; evo has no time delta for RPE).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Tuple

import numpy as np

from arkit.core.errors import TrajectoryError
from arkit.core.pose import invert, readonly
from arkit.io.trajectory_formats import Trajectory

log = logging.getLogger(__name__)

ALIGN_MODES = ("se3", "sim3", "none", "origin")
DELTA_UNITS = ("frames", "m", "s")
_MAX_CANDIDATES = 5_000_000  # one-to-one association memory guard (~40 bytes per candidate)


def associate(t_est, t_gt, max_diff_s: float = 0.02, offset_s: float = 0.0,
              one_to_one: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Match timestamps one-to-one, closest pairs first (TUM ``associate.py``).

    Parameters
    ----------
    t_est, t_gt : (N,) and (M,) float64
        Timestamps in seconds, any order.
    max_diff_s : float
        Largest accepted ``|t_est + offset_s - t_gt|``.
    offset_s : float
        Added to ``t_est`` before matching (clock offset between the two recordings).
    one_to_one : bool
        True: no stamp is used twice (TUM). False: every stamp of the shorter list gets its
        nearest stamp of the longer one, which may repeat when the shorter list has duplicate
        stamps (evo's ``sync.associate_trajectories``; ties go to the earlier stamp).

    Returns
    -------
    idx_est, idx_gt : (K,) int64
        Indices of the matched pairs, ordered by ``idx_est``.

    >>> associate([0.0, 1.0, 2.0], [0.01, 2.005], max_diff_s=0.02)
    (array([0, 2]), array([0, 1]))
    """
    te = np.asarray(t_est, dtype=np.float64).reshape(-1) + float(offset_s)
    tg = np.asarray(t_gt, dtype=np.float64).reshape(-1)
    if max_diff_s < 0:
        raise TrajectoryError(f"max_diff_s must be >= 0, got {max_diff_s}")
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if te.size == 0 or tg.size == 0:
        return empty
    if not one_to_one:
        return _associate_nearest(te, tg, max_diff_s)
    order = np.argsort(tg, kind="stable")
    tg_sorted = tg[order]
    lo = np.searchsorted(tg_sorted, te - max_diff_s, side="left")
    hi = np.searchsorted(tg_sorted, te + max_diff_s, side="right")
    counts = hi - lo
    if counts.sum() == 0:
        return empty
    if counts.sum() > _MAX_CANDIDATES:
        raise TrajectoryError(
            f"associate: max_diff_s = {max_diff_s} s admits {int(counts.sum())} candidate pairs; "
            "use a tolerance below the sampling interval (e.g. 0.02 s) or one_to_one=False"
        )
    cand_e = np.repeat(np.arange(te.size), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    cand_g_sorted = starts + np.arange(cand_e.size)
    diff = np.abs(te[cand_e] - tg_sorted[cand_g_sorted])
    keep = diff <= max_diff_s
    cand_e, cand_g, diff = cand_e[keep], order[cand_g_sorted[keep]], diff[keep]
    rank = np.lexsort((cand_g, cand_e, diff))
    used_e = np.zeros(te.size, bool)
    used_g = np.zeros(tg.size, bool)
    pairs_e, pairs_g = [], []
    for k in rank:
        e, g = cand_e[k], cand_g[k]
        if not used_e[e] and not used_g[g]:
            used_e[e] = used_g[g] = True
            pairs_e.append(e)
            pairs_g.append(g)
    idx_e = np.asarray(pairs_e, np.int64)
    idx_g = np.asarray(pairs_g, np.int64)
    s = np.argsort(idx_e, kind="stable")
    return idx_e[s], idx_g[s]


def _nearest(t_short: np.ndarray, t_long: np.ndarray, max_diff_s: float):
    order = np.argsort(t_long, kind="stable")
    tl = t_long[order]
    hi = np.clip(np.searchsorted(tl, t_short, side="left"), 1, tl.size - 1) if tl.size > 1 else np.zeros(t_short.size, int)
    lo = np.maximum(hi - 1, 0)
    d_lo, d_hi = np.abs(t_short - tl[lo]), np.abs(tl[hi] - t_short)
    pick = np.where(d_lo <= d_hi, lo, hi)
    d = np.minimum(d_lo, d_hi)
    ok = d <= max_diff_s
    return np.flatnonzero(ok).astype(np.int64), order[pick[ok]].astype(np.int64)


def _associate_nearest(te: np.ndarray, tg: np.ndarray, max_diff_s: float):
    if te.size <= tg.size:
        return _nearest(te, tg, max_diff_s)
    ig, ie = _nearest(tg, te, max_diff_s)
    s = np.argsort(ie, kind="stable")
    return ie[s], ig[s]


def umeyama_alignment(src, dst, with_scale: bool = False) -> Tuple[np.ndarray, np.ndarray, float]:
    """Least-squares similarity ``dst ~ s * R @ src + t`` (Umeyama, PAMI 1991).

    Parameters
    ----------
    src, dst : (N, 3) float64
        Corresponding points, N >= 3 and not all collinear.
    with_scale : bool
        Estimate ``s`` (Sim(3)); otherwise ``s = 1`` (SE(3)).

    Returns
    -------
    R : (3, 3) float64
        Proper rotation (det +1).
    t : (3,) float64
    s : float
    """
    x = np.asarray(src, dtype=np.float64).reshape(-1, 3)
    y = np.asarray(dst, dtype=np.float64).reshape(-1, 3)
    if x.shape != y.shape:
        raise TrajectoryError(f"umeyama_alignment: src has {x.shape[0]} points but dst has {y.shape[0]}")
    n = x.shape[0]
    if n < 3:
        raise TrajectoryError(f"umeyama_alignment needs at least 3 point pairs, got {n}")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    var_x = float(np.sum(xc * xc)) / n
    cov = yc.T @ xc / n
    U, d, Vt = np.linalg.svd(cov)
    if np.count_nonzero(d > np.finfo(np.float64).eps * max(1.0, d[0])) < 2:
        raise TrajectoryError(
            "umeyama_alignment: the points are degenerate (all equal or collinear); "
            "use align='origin' or 'none' for such a trajectory"
        )
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1.0
    R = U @ S @ Vt
    s = float(np.sum(d * np.diag(S)) / var_x) if with_scale else 1.0
    t = my - s * R @ mx
    return R, t, s


def _check_align(mode: str) -> str:
    m = str(mode).lower()
    if m not in ALIGN_MODES:
        raise TrajectoryError(f"unknown alignment {mode!r}; use one of {', '.join(ALIGN_MODES)}")
    return m


def align_trajectory(est: Trajectory, gt: Trajectory, mode: str = "se3") -> Tuple[Trajectory, np.ndarray, float]:
    """Align an associated estimate onto ground truth (both of equal length, pose i <-> pose i).

    Parameters
    ----------
    est, gt : Trajectory
        Already associated (see :func:`associate`).
    mode : {"se3", "sim3", "none", "origin"}
        See the module docstring.

    Returns
    -------
    aligned : Trajectory
        Poses ``[R @ R_i, s * R @ t_i + t]`` (est's timestamps).
    T_gt_est : (4, 4) float64
        The similarity ``[[s * R, t], [0, 1]]`` that maps estimated positions to ground truth.
    scale : float
        ``s`` (1 except for ``"sim3"``).
    """
    mode = _check_align(mode)
    if len(est) != len(gt):
        raise TrajectoryError(f"align_trajectory: {len(est)} estimated but {len(gt)} ground-truth poses; associate them first")
    if len(est) == 0:
        raise TrajectoryError("align_trajectory: the trajectories are empty")
    R, t, s = np.eye(3), np.zeros(3), 1.0
    if mode in ("se3", "sim3"):
        R, t, s = umeyama_alignment(est.positions, gt.positions, with_scale=(mode == "sim3"))
    elif mode == "origin":
        T0 = gt.T_world_camera[0] @ invert(est.T_world_camera[0])
        R, t = T0[:3, :3], T0[:3, 3]
    poses = np.array(est.T_world_camera)
    poses[:, :3, 3] *= s
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    aligned = Trajectory(est.timestamps_s, T @ poses, est.name)
    T_sim = np.eye(4)
    T_sim[:3, :3], T_sim[:3, 3] = s * R, t
    return aligned, T_sim, s


def _associated(est: Trajectory, gt: Trajectory, max_diff_s: float, offset_s: float, one_to_one: bool = True):
    ie, ig = associate(est.timestamps_s, gt.timestamps_s, max_diff_s, offset_s, one_to_one)
    if ie.size == 0:
        def span(tr):
            return f"{tr.timestamps_s.min():.3f}..{tr.timestamps_s.max():.3f} s" if len(tr) else "empty"
        raise TrajectoryError(
            f"no matching timestamps between {est.name or 'estimate'} ({span(est)}) and "
            f"{gt.name or 'ground truth'} ({span(gt)}) within {max_diff_s} s; check the time units "
            "or raise max_diff_s"
        )
    return est[ie], gt[ig]


def _stats(errors: np.ndarray) -> dict:
    return dict(
        rmse=float(np.sqrt(np.mean(errors**2))),
        mean=float(np.mean(errors)),
        median=float(np.median(errors)),
        std=float(np.std(errors)),
        max=float(np.max(errors)),
        min=float(np.min(errors)),
    )


@dataclass(frozen=True)
class AteResult:
    """Absolute trajectory error (translation part, metres) after alignment.

    ``T_gt_est`` (4, 4) is the similarity applied to the estimate (``[[s R, t], [0, 1]]``);
    ``errors_m`` (K,) the per-pair errors, ``timestamps_s`` (K,) the estimate's stamps.
    """

    rmse_m: float
    mean_m: float
    median_m: float
    std_m: float
    max_m: float
    min_m: float
    num_pairs: int
    scale: float
    T_gt_est: np.ndarray
    align: str
    errors_m: np.ndarray
    timestamps_s: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready summary (without the per-pair arrays)."""
        d = asdict(self)
        d["T_gt_est"] = np.asarray(self.T_gt_est).tolist()
        del d["errors_m"], d["timestamps_s"]
        return d


@dataclass(frozen=True)
class RpeResult:
    """Relative pose error over ``delta`` (``delta_unit``): translation (m) and rotation (deg)."""

    trans_rmse_m: float
    trans_mean_m: float
    trans_median_m: float
    trans_std_m: float
    trans_max_m: float
    rot_rmse_deg: float
    rot_mean_deg: float
    rot_median_deg: float
    rot_std_deg: float
    rot_max_deg: float
    num_pairs: int
    delta: float
    delta_unit: str
    align: str
    trans_errors_m: np.ndarray
    rot_errors_deg: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready summary (without the per-pair arrays)."""
        d = asdict(self)
        del d["trans_errors_m"], d["rot_errors_deg"]
        return d


def ate(est: Trajectory, gt: Trajectory, align: str = "se3", max_diff_s: float = 0.02, offset_s: float = 0.0,
        one_to_one: bool = True) -> AteResult:
    """Absolute trajectory error of ``est`` against ``gt`` (evo_ape translation_part).

    Associates timestamps (:func:`associate` with ``max_diff_s``, ``offset_s``,
    ``one_to_one``), aligns (:func:`align_trajectory` with ``align``) and returns statistics of
    ``|| p_gt_i - p_est_aligned_i ||`` in metres.

    >>> import numpy as np
    >>> from arkit.io.trajectory_formats import Trajectory
    >>> T = np.tile(np.eye(4), (4, 1, 1)); T[:, :3, 3] = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 1]]
    >>> gt = Trajectory(np.arange(4.0), T)
    >>> round(ate(gt.transformed(np.diag([1.0, -1, -1, 1])), gt).rmse_m, 9)
    0.0
    """
    align = _check_align(align)
    e, g = _associated(est, gt, max_diff_s, offset_s, one_to_one)
    aligned, T_sim, s = align_trajectory(e, g, align)
    errors = np.linalg.norm(aligned.positions - g.positions, axis=1)
    st = _stats(errors)
    return AteResult(
        rmse_m=st["rmse"], mean_m=st["mean"], median_m=st["median"], std_m=st["std"], max_m=st["max"],
        min_m=st["min"], num_pairs=int(errors.size), scale=float(s), T_gt_est=readonly(T_sim), align=align,
        errors_m=readonly(errors), timestamps_s=readonly(e.timestamps_s),
    )


def rotation_angles_rad(R) -> np.ndarray:
    """Angles (radians, in [0, pi]) of (N, 3, 3) rotations, accurate for small angles too
    (``atan2`` of the skew part and the trace, not ``arccos`` of the trace alone)."""
    R = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    c = (np.trace(R, axis1=1, axis2=2) - 1.0) / 2.0
    v = np.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], axis=1)
    return np.arctan2(0.5 * np.linalg.norm(v, axis=1), c)


def rpe_pairs(traj: Trajectory, delta: float, delta_unit: str = "frames", all_pairs: bool = False,
              rel_delta_tol: float = 0.1) -> np.ndarray:
    """Index pairs ``(i, j)`` that are ``delta`` apart, as evo selects them.

    ``"frames"``: ``j = i + delta``. ``"m"`` / ``"s"``: travelled path length / elapsed time;
    consecutive mode starts a new pair when the accumulated amount reaches ``delta``; with
    ``all_pairs`` every ``i`` gets the ``j`` whose amount is closest to ``delta`` if within
    ``delta * rel_delta_tol``. Returns (K, 2) int64.
    """
    n = len(traj)
    if delta_unit not in DELTA_UNITS:
        raise TrajectoryError(f"unknown RPE delta unit {delta_unit!r}; use one of {', '.join(DELTA_UNITS)}")
    if delta <= 0:
        raise TrajectoryError(f"RPE delta must be > 0, got {delta}")
    if delta_unit == "frames":
        if float(delta) != int(delta):
            raise TrajectoryError(f"RPE delta in frames must be an integer, got {delta}")
        d = int(delta)
        i = np.arange(n - d) if all_pairs else np.arange(0, n, d)[:-1]
        return np.stack([i, i + d], axis=1).astype(np.int64) if i.size else np.zeros((0, 2), np.int64)
    if delta_unit == "m":
        steps = np.linalg.norm(np.diff(traj.positions, axis=0), axis=1)
        acc = np.concatenate([[0.0], np.cumsum(steps)])
    else:
        steps = np.diff(traj.timestamps_s)
        acc = traj.timestamps_s - traj.timestamps_s[0]
    pairs = []
    if all_pairs:
        tol = delta * rel_delta_tol
        for i in range(n - 1):
            rest = acc[i + 1:] - acc[i]
            k = int(np.argmin(np.abs(rest - delta)))
            if abs(rest[k] - delta) <= tol:
                pairs.append((i, i + 1 + k))
    else:
        ids, run = [0], 0.0
        for j in range(1, n):
            run += float(steps[j - 1])
            if run >= delta:
                ids.append(j)
                run = 0.0
        pairs = list(zip(ids[:-1], ids[1:]))
    return np.asarray(pairs, np.int64).reshape(-1, 2)


def rpe(est: Trajectory, gt: Trajectory, delta: float = 1, delta_unit: str = "frames", max_diff_s: float = 0.02,
        align: str = "none", all_pairs: bool = False, rel_delta_tol: float = 0.1, pairs_from: str = "est",
        offset_s: float = 0.0, one_to_one: bool = True) -> RpeResult:
    """Relative pose error of ``est`` against ``gt`` (evo_rpe translation_part and
    rotation_angle_deg).

    Parameters
    ----------
    est, gt : Trajectory
    delta, delta_unit : float, {"frames", "m", "s"}
        Distance between the two poses of a pair (see :func:`rpe_pairs`).
    max_diff_s, offset_s, one_to_one : float, float, bool
        Timestamp association (see :func:`associate`).
    align : {"none", "se3", "sim3", "origin"}
        SE(3) alignments do not change RPE; ``"sim3"`` corrects the scale of a monocular
        estimate (``evo_rpe -as``). Default ``"none"`` as ``evo_rpe``.
    all_pairs : bool
        Use every start index instead of consecutive, non-overlapping pairs.
    pairs_from : {"est", "gt"}
        Which trajectory's path/time selects the pairs (evo: ``pairs_from_reference``).
    """
    align = _check_align(align)
    e, g = _associated(est, gt, max_diff_s, offset_s, one_to_one)
    if align != "none":
        e = align_trajectory(e, g, align)[0]
    if pairs_from not in ("est", "gt"):
        raise TrajectoryError(f"pairs_from must be 'est' or 'gt', got {pairs_from!r}")
    pairs = rpe_pairs(e if pairs_from == "est" else g, delta, delta_unit, all_pairs, rel_delta_tol)
    if pairs.shape[0] == 0:
        raise TrajectoryError(
            f"RPE: delta = {delta} {delta_unit} gives no pose pairs among {len(e)} associated poses; use a smaller delta"
        )
    P, Q = e.T_world_camera, g.T_world_camera
    i, j = pairs[:, 0], pairs[:, 1]
    Q_rel = invert(Q[i]) @ Q[j]
    P_rel = invert(P[i]) @ P[j]
    E = invert(Q_rel) @ P_rel
    trans = np.linalg.norm(E[:, :3, 3], axis=1)
    rot = np.degrees(rotation_angles_rad(E[:, :3, :3]))
    st, sr = _stats(trans), _stats(rot)
    return RpeResult(
        trans_rmse_m=st["rmse"], trans_mean_m=st["mean"], trans_median_m=st["median"], trans_std_m=st["std"],
        trans_max_m=st["max"], rot_rmse_deg=sr["rmse"], rot_mean_deg=sr["mean"], rot_median_deg=sr["median"],
        rot_std_deg=sr["std"], rot_max_deg=sr["max"], num_pairs=int(pairs.shape[0]), delta=float(delta),
        delta_unit=delta_unit, align=align, trans_errors_m=readonly(trans), rot_errors_deg=readonly(rot),
    )
