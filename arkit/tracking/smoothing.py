"""Low-lag pose smoothing: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

The cutoff frequency of a first-order low-pass filter rises with the filtered speed:
``cutoff = min_cutoff + beta * |speed|``, so a still pose is smoothed strongly (less jitter) and
a moving one follows with little lag. Translation is filtered as a 3-vector (speed in m/s);
rotation on SO(3): the new rotation is reached from the previous filtered one by a fraction
``alpha`` of the relative rotation vector (a slerp), with angular speed in rad/s.

The filter is deterministic (no randomness) and restarts from the raw pose after a gap longer
than ``max_gap_s`` or after :meth:`PoseOneEuroFilter.reset`.

>>> f = PoseOneEuroFilter(min_cutoff=1.0, beta=5.0)
>>> T = f(np.eye(4), timestamp_s=0.0)
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError
from arkit.core.pose import as_transform, from_rt, matrix_to_rotvec, rotvec_to_matrix


def smoothing_alpha(cutoff_hz: float, dt_s: float) -> float:
    """Weight of the new sample for a first-order low-pass at ``cutoff_hz`` and step ``dt_s``."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One Euro filter on a fixed-size vector.

    Parameters
    ----------
    min_cutoff : float
        Cutoff frequency (Hz) at zero speed; lower = smoother when still.
    beta : float
        Speed coefficient (per unit of the signal's speed); higher = less lag when moving.
    d_cutoff : float
        Cutoff (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ArkitError(f"One Euro filter needs min_cutoff > 0, d_cutoff > 0, beta >= 0; got "
                             f"min_cutoff={min_cutoff}, beta={beta}, d_cutoff={d_cutoff}")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None

    def __call__(self, x, dt_s: float) -> np.ndarray:
        """Filter one sample ``x`` arriving ``dt_s`` seconds after the previous one."""
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self._x) / dt_s
        a_d = smoothing_alpha(self.d_cutoff, dt_s)
        self._dx = self._dx + a_d * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * float(np.linalg.norm(self._dx))
        a = smoothing_alpha(cutoff, dt_s)
        self._x = self._x + a * (x - self._x)
        return self._x.copy()


class PoseOneEuroFilter:
    """One Euro filter on a (4, 4) rigid transform.

    Parameters
    ----------
    min_cutoff : float
        Cutoff (Hz) at rest, for translation and rotation.
    beta : float
        Speed coefficient for translation (s/m).
    beta_rotation : float, optional
        Speed coefficient for rotation (s/rad); defaults to ``beta``.
    d_cutoff : float
        Cutoff (Hz) of the speed estimates.
    max_gap_s : float
        Restart from the raw pose when samples are further apart than this.
    default_dt_s : float
        Step used when timestamps do not increase.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0, beta_rotation: Optional[float] = None,
                 d_cutoff: float = 1.0, max_gap_s: float = 0.5, default_dt_s: float = 1.0 / 30.0):
        self._trans = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self.beta_rotation = float(beta if beta_rotation is None else beta_rotation)
        if self.beta_rotation < 0:
            raise ArkitError(f"beta_rotation must be >= 0, got {beta_rotation}")
        self.min_cutoff, self.d_cutoff = float(min_cutoff), float(d_cutoff)
        self.max_gap_s, self.default_dt_s = float(max_gap_s), float(default_dt_s)
        self.reset()

    def reset(self) -> None:
        """Forget the history; the next pose passes through unchanged."""
        self._trans.reset()
        self._R: Optional[np.ndarray] = None
        self._omega = 0.0
        self._t_last: Optional[float] = None

    def __call__(self, T, timestamp_s: float) -> np.ndarray:
        """Filter one pose; returns the smoothed (4, 4) float64 pose."""
        T = as_transform(T, "pose to smooth")
        t_s = float(timestamp_s)
        dt = None if self._t_last is None else t_s - self._t_last
        if dt is not None and dt > self.max_gap_s:
            self.reset()
            dt = None
        self._t_last = t_s
        if dt is None or self._R is None:
            self._trans.reset()
            self._trans(T[:3, 3], self.default_dt_s)
            self._R = T[:3, :3].copy()
            self._omega = 0.0
            return T.copy()
        if dt <= 0:
            dt = self.default_dt_s
        t = self._trans(T[:3, 3], dt)
        delta = matrix_to_rotvec(self._R.T @ T[:3, :3])  # relative rotation, in the filtered frame
        speed = float(np.linalg.norm(delta)) / dt
        self._omega += smoothing_alpha(self.d_cutoff, dt) * (speed - self._omega)
        a = smoothing_alpha(self.min_cutoff + self.beta_rotation * self._omega, dt)
        self._R = self._R @ rotvec_to_matrix(a * delta)
        u, _, vt = np.linalg.svd(self._R)  # keep it orthonormal over long runs
        self._R = u @ vt
        return from_rt(self._R, t)

    filter = __call__
