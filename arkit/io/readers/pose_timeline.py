"""Look up recorded poses at frame timestamps (nearest or interpolated), for recording readers."""

from __future__ import annotations

from typing import List, Optional

import numpy as np


def poses_at(times_s, T_world_camera, query_s, tolerance_s: float = 0.02,
             max_gap_s: Optional[float] = None) -> List[Optional[np.ndarray]]:
    """Recorded poses at the query times.

    A query between two recorded poses that are at most ``max_gap_s`` apart gets the pose
    interpolated between them (linear translation, spherical-linear rotation). Otherwise it gets
    the nearest recorded pose if that is within ``tolerance_s``, else None.

    Parameters
    ----------
    times_s : (N,) float64
        Timestamps of the recorded poses (any order).
    T_world_camera : (N, 4, 4) float64
        Recorded poses.
    query_s : (M,) float64
        Frame timestamps.
    tolerance_s : float
        Largest distance to the nearest recorded pose when not interpolating.
    max_gap_s : float, optional
        Largest spacing of the two poses interpolated between; default ``max(2 * tolerance_s, 0.1)``.

    Returns
    -------
    list of (4, 4) float64 or None
        One entry per query.
    """
    from scipy.spatial.transform import Rotation, Slerp

    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    T = np.asarray(T_world_camera, dtype=np.float64).reshape(-1, 4, 4)
    q = np.asarray(query_s, dtype=np.float64).reshape(-1)
    out: List[Optional[np.ndarray]] = [None] * q.size
    if t.size == 0:
        return out
    order = np.argsort(t, kind="stable")
    t, T = t[order], T[order]
    keep = np.concatenate([[True], np.diff(t) > 0])  # drop duplicate stamps
    t, T = t[keep], T[keep]
    gap = max(2.0 * tolerance_s, 0.1) if max_gap_s is None else max_gap_s
    hi = np.searchsorted(t, q, side="left")
    for i, (tq, h) in enumerate(zip(q, hi)):
        if h < t.size and t[h] == tq:
            out[i] = T[h].copy()
            continue
        lo_i, hi_i = h - 1, h
        if 0 <= lo_i and hi_i < t.size and t[hi_i] - t[lo_i] <= gap:
            a = (tq - t[lo_i]) / (t[hi_i] - t[lo_i])
            slerp = Slerp([0.0, 1.0], Rotation.from_matrix(T[[lo_i, hi_i], :3, :3]))
            P = np.eye(4)
            P[:3, :3] = slerp([a]).as_matrix()[0]
            P[:3, 3] = (1 - a) * T[lo_i, :3, 3] + a * T[hi_i, :3, 3]
            out[i] = P
            continue
        cands = [j for j in (lo_i, hi_i) if 0 <= j < t.size]
        j = min(cands, key=lambda j: abs(t[j] - tq))
        if abs(t[j] - tq) <= tolerance_s:
            out[i] = T[j].copy()
    return out
