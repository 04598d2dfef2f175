"""Smooth, seeded hand-held camera paths (world +Y up, OpenCV camera axes).

A path is a continuous function of time, so motion blur can sample poses between frames.
The base motion is a look-at orbit around a target whose distance and elevation drift slowly;
it is re-parametrised by arc length so the camera moves at a constant speed. Low-frequency
noise (sums of sinusoids with random phases) is added to the position, the look-at point and
the orientation, as a hand-held phone moves. ``turn_away`` additionally walks away from the
target while turning round (the target leaves the view) and comes back, for relocalisation tests; with ``pause_orbit`` the orbit
stands still while the camera is turned away, so it comes back to the viewpoint it left from (a
user looking away and back), instead of to a part of the orbit it has never seen.

>>> path = make_camera_path({"type": "orbit", "target": [0, 0, 0]}, duration_s=10.0, seed=0)
>>> t, T = path.frames(300)
>>> T.shape
(300, 4, 4)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from arkit.core.errors import ArkitError
from arkit.core.pose import rotvec_to_matrix

log = logging.getLogger(__name__)

PATH_TYPES = ("orbit", "turn_away")
#: Shortest time a turn_away transition (turning away or back) takes, seconds.
MIN_TRANSITION_S = 1.5
#: With ``pause_orbit``, time the orbit takes to stop (after turning away starts) and to start again.
PAUSE_RAMP_S = 0.4

_DEFAULTS = {
    "type": "orbit",
    "target": [0.0, 0.0, 0.0],
    "distance_m": [0.6, 1.2],
    "elevation_deg": [30.0, 60.0],
    "speed_mps": 0.25,
    "start_angle_deg": 0.0,
    "direction": 1,
    "position_noise_m": 0.01,
    "rotation_noise_deg": 1.0,
    "target_noise_m": 0.04,
    "fps": 30.0,
    # turn_away only
    "turn_deg": 150.0,
    "away_m": 0.7,
    "away_pitch_deg": -5.0,
    "leave_at": 0.2,
    "transition": 0.2,
    "hold": 0.15,
    "pause_orbit": False,
}


#: Option names a recipe's ``camera`` section may use.
PATH_OPTIONS = tuple(_DEFAULTS)


def look_at_rotation(forward, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Rotations (N, 3, 3) ``R_world_camera`` with OpenCV axes: z along ``forward`` (N, 3),
    x to the right, y down (``up`` is world up)."""
    f = np.asarray(forward, dtype=np.float64).reshape(-1, 3)
    z = f / np.linalg.norm(f, axis=1, keepdims=True)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=2)


def smootherstep(x) -> np.ndarray:
    """C2-continuous step from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


class SmoothNoise:
    """Band-limited noise: per dimension a sum of sinusoids with random frequencies and phases.

    Parameters
    ----------
    rng : numpy.random.Generator
    dims : int
    amplitude : float
        Approximate standard deviation of each dimension.
    freq_hz : (float, float)
        Frequency band; with ``n_terms`` sinusoids per dimension.
    """

    def __init__(self, rng: np.random.Generator, dims: int, amplitude: float, freq_hz=(0.1, 0.6), n_terms: int = 4):
        self.freqs = rng.uniform(freq_hz[0], freq_hz[1], (n_terms, dims))
        self.phases = rng.uniform(0, 2 * np.pi, (n_terms, dims))
        w = rng.uniform(0.5, 1.0, (n_terms, dims))
        self.amps = amplitude * w / np.sqrt(0.5 * (w**2).sum(axis=0, keepdims=True))

    def __call__(self, t) -> np.ndarray:
        """Values (N, dims) at times ``t`` (N,) seconds."""
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1, 1)
        return (self.amps * np.sin(2 * np.pi * self.freqs * t + self.phases)).sum(axis=1)


@dataclass
class CameraPath:
    """A camera trajectory ``T_world_camera(t)`` defined for any time ``t`` (seconds).

    Attributes
    ----------
    params : dict
        The options the path was built from (stored in ``scene.json``).
    duration_s : float
    fps : float
    """

    params: dict
    duration_s: float
    fps: float
    seed: int
    _impl: object = field(repr=False, default=None)

    def pose_at(self, t) -> np.ndarray:
        """``T_world_camera`` (4, 4) for a scalar ``t`` or (N, 4, 4) for an array of times."""
        scalar = np.ndim(t) == 0
        T = self._impl(np.atleast_1d(np.asarray(t, dtype=np.float64)))
        return T[0] if scalar else T

    def frames(self, num_frames: int) -> tuple:
        """``(timestamps_s (N,), T_world_camera (N, 4, 4))`` at ``fps``, starting at t = 0."""
        t = np.arange(int(num_frames), dtype=np.float64) / self.fps
        return t, self.pose_at(t)

    def turn_weight(self, t) -> np.ndarray:
        """How far the camera has turned away (0 = looking at the target, 1 = fully away)."""
        return self._impl.weight(np.atleast_1d(np.asarray(t, dtype=np.float64)))


class _Handheld:
    def __init__(self, p: dict, duration_s: float, seed: int):
        rng = np.random.default_rng(seed)
        self.p = p
        self.target = np.asarray(p["target"], dtype=np.float64).reshape(3)
        self.dmin, self.dmax = (float(v) for v in p["distance_m"])
        self.emin, self.emax = (np.radians(float(v)) for v in p["elevation_deg"])
        self.theta0 = np.radians(float(p["start_angle_deg"]))
        self.dir = 1.0 if float(p["direction"]) >= 0 else -1.0
        # slow drifts of distance and elevation along the orbit angle u
        self.d_freq = rng.uniform(0.5, 1.5, 2)
        self.d_phase = rng.uniform(0, 2 * np.pi, 2)
        self.e_freq = rng.uniform(0.5, 1.5, 2)
        self.e_phase = rng.uniform(0, 2 * np.pi, 2)
        self.pos_noise = SmoothNoise(rng, 3, float(p["position_noise_m"]), (0.2, 1.0))
        self.tgt_noise = SmoothNoise(rng, 3, float(p["target_noise_m"]), (0.05, 0.25))
        self.rot_noise = SmoothNoise(rng, 3, np.radians(float(p["rotation_noise_deg"])), (0.2, 1.2))
        # arc-length table: orbit angle u as a function of travelled distance s
        speed = float(p["speed_mps"])
        length = speed * (duration_s + 2.0)
        u_max = length / max(self.dmin * np.cos(self.emax), 1e-3) + 1.0
        u = np.linspace(-1.0, u_max, max(4000, int(u_max * 400)))
        pts = self._orbit(u)
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        s -= np.interp(0.0, u, s)
        self.table_s, self.table_u, self.speed = s, u, speed
        D = duration_s
        self.t_leave = float(p["leave_at"]) * D
        self.t_trans = max(float(p["transition"]) * D, MIN_TRANSITION_S)
        self.t_return = self.t_leave + self.t_trans + float(p["hold"]) * D
        # pause_orbit: the orbit slows to a stop within PAUSE_RAMP_S of turning away and starts
        # again PAUSE_RAMP_S before the turn back ends; table of the integral of that pause weight
        self.t_table = np.linspace(0.0, D + 2.0, max(2, int((D + 2.0) * 1000)))
        if p["type"] == "turn_away" and bool(p["pause_orbit"]):
            t_end = self.t_return + self.t_trans
            pw = (smootherstep((self.t_table - self.t_leave) / PAUSE_RAMP_S)
                  - smootherstep((self.t_table - (t_end - PAUSE_RAMP_S)) / PAUSE_RAMP_S))
            self.w_integral = np.concatenate([[0.0], np.cumsum(0.5 * (pw[1:] + pw[:-1]) * np.diff(self.t_table))])
        else:
            self.w_integral = np.zeros_like(self.t_table)
        if p["type"] == "turn_away" and self.t_return + self.t_trans > D:
            log.warning("turn_away path of %.1f s is too short to come back (needs %.1f s); use more frames",
                        D, self.t_return + self.t_trans)

    def _orbit(self, u):
        u = np.asarray(u, dtype=np.float64)
        a = 0.5 * (1 + 0.6 * np.sin(self.d_freq[0] * u + self.d_phase[0]) + 0.4 * np.sin(self.d_freq[1] * u + self.d_phase[1]))
        b = 0.5 * (1 + 0.6 * np.sin(self.e_freq[0] * u + self.e_phase[0]) + 0.4 * np.sin(self.e_freq[1] * u + self.e_phase[1]))
        d = self.dmin + (self.dmax - self.dmin) * a
        e = self.emin + (self.emax - self.emin) * b
        ang = self.theta0 + self.dir * u
        r = d * np.cos(e)
        return self.target + np.stack([r * np.cos(ang), d * np.sin(e), r * np.sin(ang)], axis=-1)

    def weight(self, t):
        if self.p["type"] != "turn_away":
            return np.zeros_like(t)
        up = smootherstep((t - self.t_leave) / self.t_trans)
        down = smootherstep((t - self.t_return) / self.t_trans)
        return up - down

    def __call__(self, t):
        t_orbit = t - np.interp(t, self.t_table, self.w_integral)   # = t unless pause_orbit
        u = np.interp(self.speed * t_orbit, self.table_s, self.table_u)
        pos = self._orbit(u)
        target = self.target + self.tgt_noise(t)
        w = self.weight(t)
        if np.any(w > 0):
            radial = pos - self.target
            radial[:, 1] = 0.0
            radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
            pos = pos + (w * float(self.p["away_m"]))[:, None] * radial
        pos = pos + self.pos_noise(t)
        f = target - pos
        f /= np.linalg.norm(f, axis=1, keepdims=True)
        if np.any(w > 0):
            yaw = np.arctan2(f[:, 0], f[:, 2]) + w * np.radians(float(self.p["turn_deg"]))
            pitch = (1 - w) * np.arcsin(np.clip(f[:, 1], -1, 1)) + w * np.radians(float(self.p["away_pitch_deg"]))
            f = np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], axis=1)
        R = look_at_rotation(f)
        jitter = self.rot_noise(t)
        R = np.einsum("nij,njk->nik", R, np.stack([rotvec_to_matrix(j) for j in jitter]))
        T = np.tile(np.eye(4), (len(t), 1, 1))
        T[:, :3, :3] = R
        T[:, :3, 3] = pos
        return T


def make_camera_path(options: dict | None = None, duration_s: float = 10.0, seed: int = 0) -> CameraPath:
    """Build a seeded hand-held path.

    Parameters
    ----------
    options : dict, optional
        Recipe ``camera`` section: ``type`` (``"orbit"`` or ``"turn_away"``), ``target`` (3,),
        ``distance_m`` [min, max] from the target, ``elevation_deg`` [min, max] above the
        target's horizon, ``speed_mps``, ``start_angle_deg``, ``direction`` (+1/-1),
        ``position_noise_m``, ``rotation_noise_deg``, ``target_noise_m``, ``fps``; for
        ``turn_away``: ``turn_deg``, ``away_m``, ``away_pitch_deg``, the schedule as fractions
        of the duration ``leave_at``, ``transition`` (at least 1.5 s), ``hold``, and
        ``pause_orbit`` (bool, default False: the orbit stands still while turned away, so the
        camera returns to the viewpoint it left); the path needs about 8 s (240 frames) or more
        to turn away and come back.
    duration_s : float
        Length of the path the schedule is laid out over (frames / fps).
    seed : int

    Raises
    ------
    ArkitError
        For an unknown path type or option, or inconsistent ranges.
    """
    opts = dict(options or {})
    unknown = set(opts) - set(_DEFAULTS)
    if unknown:
        raise ArkitError(f"unknown camera path option(s) {sorted(unknown)}; known: {sorted(_DEFAULTS)}")
    p = {**_DEFAULTS, **opts}
    if p["type"] not in PATH_TYPES:
        raise ArkitError(f"unknown camera path type {p['type']!r}; use one of {', '.join(PATH_TYPES)}")
    dmin, dmax = (float(v) for v in p["distance_m"])
    if not 0 < dmin <= dmax:
        raise ArkitError(f"camera distance_m must be 0 < min <= max, got {p['distance_m']}")
    emin, emax = (float(v) for v in p["elevation_deg"])
    if not -89 <= emin <= emax <= 89:
        raise ArkitError(f"camera elevation_deg must be within [-89, 89] and min <= max, got {p['elevation_deg']}")
    if not float(p["speed_mps"]) > 0:
        raise ArkitError(f"camera speed_mps must be positive, got {p['speed_mps']}")
    if not duration_s > 0:
        raise ArkitError(f"path duration must be positive, got {duration_s}")
    if p["type"] == "turn_away" and float(p["leave_at"]) + 2 * float(p["transition"]) + float(p["hold"]) > 1.0:
        raise ArkitError("turn_away schedule leave_at + 2*transition + hold must be <= 1")
    return CameraPath(params=p, duration_s=float(duration_s), fps=float(p["fps"]), seed=int(seed),
                      _impl=_Handheld(p, float(duration_s), int(seed)))
