"""Camera trajectories and the text formats they are stored in (TUM, KITTI, EuRoC).

A :class:`Trajectory` holds timestamps in seconds and camera-to-world poses
``T_world_camera`` (4x4 float64). Each file format has one ``read_*`` / ``write_*`` pair that
fixes the format's layout (quaternion order, time unit, matrix layout) at the boundary, so the
rest of arkit only sees the arkit convention:

========  ==========================================================  ====================
format    one line                                                    time
========  ==========================================================  ====================
``tum``   ``timestamp tx ty tz qx qy qz qw`` (quaternion **xyzw**),    seconds
          ``#`` comments
``kitti`` 12 numbers: the top 3x4 of ``T_world_camera``, row-major     none: frame index, or
                                                                      one line per pose in
                                                                      an optional times.txt
``euroc`` ``#timestamp [ns], p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z     nanoseconds (integer)
          [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], ...``
          (quaternion **wxyz**, comma separated, extra columns
          ignored)
========  ==========================================================  ====================

Writers are atomic (temporary file, then ``os.replace``) and write floats with Python's
shortest round-trip representation, so ``read(write(traj))`` gives back the same numbers.
Malformed lines raise :class:`arkit.core.errors.InputFileError` naming ``file:line``.

>>> import numpy as np
>>> traj = Trajectory(np.array([0.0, 0.1]), np.stack([np.eye(4), np.eye(4)]))
>>> len(traj), traj.positions.shape
(2, (2, 3))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from arkit.core.errors import InputFileError, TrajectoryError
from arkit.core.pose import readonly

log = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: Format names accepted by :func:`read_trajectory` and :func:`write_trajectory`.
FORMATS = ("tum", "kitti", "euroc")

EUROC_HEADER = "#timestamp [ns],p_RS_R_x [m],p_RS_R_y [m],p_RS_R_z [m],q_RS_w [],q_RS_x [],q_RS_y [],q_RS_z []"


@dataclass(frozen=True, eq=False)
class Trajectory:
    """An immutable sequence of timestamped camera poses.

    Parameters
    ----------
    timestamps_s : (N,) float64
        Time of each pose in seconds on the recording's clock (not necessarily sorted).
    T_world_camera : (N, 4, 4) float64
        Camera-to-world poses, ``p_world = T_world_camera[i] @ p_camera``. A (N, 3, 4) array
        gets the row ``[0, 0, 0, 1]`` appended.
    name : str
        Free label (usually the file it came from), used in messages and tables.

    Notes
    -----
    Arrays are stored as read-only copies. ``traj[i]`` returns ``(timestamp_s, (4, 4) pose)``;
    slices, integer index arrays and boolean masks return a new :class:`Trajectory`.
    """

    timestamps_s: np.ndarray
    T_world_camera: np.ndarray
    name: str = ""

    def __post_init__(self):
        t = np.asarray(self.timestamps_s, dtype=np.float64).reshape(-1)
        T = np.asarray(self.T_world_camera, dtype=np.float64)
        if T.ndim == 3 and T.shape[1:] == (3, 4):
            bottom = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0]), (T.shape[0], 1, 4))
            T = np.concatenate([T, bottom], axis=1)
        if T.size == 0 and t.size == 0:
            T = T.reshape(0, 4, 4)
        if T.ndim != 3 or T.shape[1:] != (4, 4):
            raise TrajectoryError(f"trajectory {self.name!r}: poses must be (N, 4, 4), got shape {T.shape}")
        if T.shape[0] != t.shape[0]:
            raise TrajectoryError(
                f"trajectory {self.name!r}: {t.shape[0]} timestamps but {T.shape[0]} poses; give one timestamp per pose"
            )
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(T))):
            raise TrajectoryError(f"trajectory {self.name!r}: timestamps or poses contain NaN or infinite values")
        object.__setattr__(self, "timestamps_s", readonly(t))
        object.__setattr__(self, "T_world_camera", readonly(T))
        object.__setattr__(self, "name", str(self.name))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_positions_quat_wxyz(cls, timestamps_s, positions, quat_wxyz, name: str = "") -> "Trajectory":
        """Build from (N,) times, (N, 3) positions and (N, 4) unit quaternions ``(w, x, y, z)``.

        Quaternions are normalised; a zero-norm quaternion raises ``InputFileError``.
        """
        p = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        q = np.asarray(quat_wxyz, dtype=np.float64).reshape(-1, 4)
        T = np.tile(np.eye(4), (p.shape[0], 1, 1))
        T[:, :3, :3] = quat_wxyz_to_matrices(q, what=f"trajectory {name!r}")
        T[:, :3, 3] = p
        return cls(timestamps_s, T, name)

    # -- views --------------------------------------------------------------------------------
    @property
    def poses(self) -> np.ndarray:
        """Alias of ``T_world_camera``: (N, 4, 4) float64, read-only."""
        return self.T_world_camera

    @property
    def positions(self) -> np.ndarray:
        """(N, 3) float64 camera centres in world coordinates (read-only view)."""
        return self.T_world_camera[:, :3, 3]

    @property
    def rotations(self) -> np.ndarray:
        """(N, 3, 3) float64 camera-to-world rotations (read-only view)."""
        return self.T_world_camera[:, :3, :3]

    @property
    def quat_wxyz(self) -> np.ndarray:
        """(N, 4) float64 unit quaternions ``(w, x, y, z)`` with ``w >= 0``."""
        return matrices_to_quat_wxyz(self.rotations)

    @property
    def duration_s(self) -> float:
        """Last minus first timestamp (0 for fewer than two poses)."""
        return float(self.timestamps_s.max() - self.timestamps_s.min()) if len(self) > 1 else 0.0

    @property
    def path_length_m(self) -> float:
        """Sum of distances between consecutive positions, metres."""
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum()) if len(self) > 1 else 0.0

    def __len__(self) -> int:
        return int(self.timestamps_s.shape[0])

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return float(self.timestamps_s[key]), self.T_world_camera[key]
        return Trajectory(self.timestamps_s[key], self.T_world_camera[key], self.name)

    def __repr__(self) -> str:
        span = f", {self.timestamps_s.min():.3f}..{self.timestamps_s.max():.3f} s" if len(self) else ""
        return f"Trajectory({self.name!r}, {len(self)} poses{span})"

    # -- derived trajectories -----------------------------------------------------------------
    def transformed(self, T_new_world) -> "Trajectory":
        """Left-multiply every pose: returns poses ``T_new_world @ T_world_camera``."""
        T = np.asarray(T_new_world, dtype=np.float64).reshape(4, 4)
        return Trajectory(self.timestamps_s, T @ self.T_world_camera, self.name)

    def sorted_by_time(self) -> "Trajectory":
        """A copy ordered by timestamp (stable for equal stamps)."""
        return self[np.argsort(self.timestamps_s, kind="stable")]


# -- vectorised quaternion conversion (scipy handles normalisation and sign) -------------------
def quat_wxyz_to_matrices(q_wxyz, what: str = "quaternions") -> np.ndarray:
    """(N, 4) quaternions ``(w, x, y, z)`` to (N, 3, 3) rotations (inputs are normalised)."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q_wxyz, dtype=np.float64).reshape(-1, 4)
    if q.shape[0] == 0:
        return np.zeros((0, 3, 3))
    norms = np.linalg.norm(q, axis=1)
    if np.any(norms < 1e-12):
        bad = int(np.flatnonzero(norms < 1e-12)[0])
        raise TrajectoryError(f"{what}: quaternion {bad} has zero norm")
    return Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()


def matrices_to_quat_wxyz(R) -> np.ndarray:
    """(N, 3, 3) rotations to (N, 4) unit quaternions ``(w, x, y, z)`` with ``w >= 0``."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    if R.shape[0] == 0:
        return np.zeros((0, 4))
    q = Rotation.from_matrix(R).as_quat()[:, [3, 0, 1, 2]]
    return np.where(q[:, :1] < 0, -q, q)


# -- parsing helpers ----------------------------------------------------------------------------
def _read_rows(path: PathLike, n_min: int, n_max: Optional[int], fmt: str, sep: Optional[str]):
    """Parse the numeric rows of ``path``; returns (list of token lists, list of 1-based line numbers).

    Blank lines and lines starting with ``#`` are skipped. ``sep=None`` splits on whitespace
    (commas are accepted as separators too); ``sep=","`` splits on commas.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: trajectory file does not exist (expected a {fmt.upper()} file)")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{p}: cannot read the trajectory file ({e})") from e
    rows, line_numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tokens = [x.strip() for x in s.split(",")] if sep == "," else s.replace(",", " ").split()
        if len(tokens) < n_min or (n_max is not None and len(tokens) > n_max):
            want = f"{n_min}" if n_max == n_min else f"at least {n_min}"
            raise InputFileError(
                f"{p}:{number}: a {fmt.upper()} line needs {want} values, found {len(tokens)}: {s[:80]!r}"
            )
        rows.append(tokens)
        line_numbers.append(number)
    if not rows:
        raise InputFileError(f"{p}: no poses found (only comments or blank lines); is this a {fmt.upper()} file?")
    return rows, line_numbers


def _to_floats(rows, line_numbers, path, fmt: str, ncols: int) -> np.ndarray:
    """(len(rows), ncols) float64 from the first ``ncols`` tokens of each row; a bad value
    raises ``InputFileError`` naming its line."""
    try:  # fast path: one bulk conversion
        out = np.array([tok for r in rows for tok in r[:ncols]], dtype=np.float64).reshape(-1, ncols)
    except ValueError:
        out = None
    if out is None:
        for tokens, number in zip(rows, line_numbers):
            try:
                [float(x) for x in tokens[:ncols]]
            except ValueError:
                raise InputFileError(
                    f"{path}:{number}: {fmt.upper()} line has a value that is not a number: {' '.join(tokens)[:80]!r}"
                ) from None
        raise InputFileError(f"{path}: cannot parse the {fmt.upper()} values")  # pragma: no cover
    bad = np.flatnonzero(~np.all(np.isfinite(out), axis=1))
    if bad.size:
        raise InputFileError(f"{path}:{line_numbers[int(bad[0])]}: {fmt.upper()} line contains NaN or inf")
    return out


def _quats_checked(q_wxyz: np.ndarray, line_numbers, path) -> np.ndarray:
    norms = np.linalg.norm(q_wxyz, axis=1)
    bad = np.flatnonzero(norms < 1e-12)
    if bad.size:
        raise InputFileError(f"{path}:{line_numbers[int(bad[0])]}: quaternion has zero norm")
    return quat_wxyz_to_matrices(q_wxyz, what=str(path))


def _fmt(x: float) -> str:
    return repr(float(x))


def _write_text(path: PathLike, text: str) -> Path:
    from arkit.io.atomic import atomic_write_text

    return atomic_write_text(path, text)


# -- TUM ----------------------------------------------------------------------------------------
def read_tum(path: PathLike) -> Trajectory:
    """Read a TUM RGB-D trajectory: ``timestamp tx ty tz qx qy qz qw`` per line (seconds, xyzw).

    Returns
    -------
    Trajectory
        Poses ``T_world_camera`` in file order, ``name`` = file stem.
    """
    rows, numbers = _read_rows(path, 8, 8, "tum", None)
    m = _to_floats(rows, numbers, path, "tum", 8)
    T = np.tile(np.eye(4), (m.shape[0], 1, 1))
    T[:, :3, :3] = _quats_checked(m[:, [7, 4, 5, 6]], numbers, path)
    T[:, :3, 3] = m[:, 1:4]
    return Trajectory(m[:, 0], T, Path(path).stem)


def write_tum(traj: Trajectory, path: PathLike) -> Path:
    """Write ``traj`` as a TUM file (``timestamp tx ty tz qx qy qz qw``, atomic)."""
    q = traj.quat_wxyz
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for t, p, (w, x, y, z) in zip(traj.timestamps_s, traj.positions, q):
        lines.append(" ".join(_fmt(v) for v in (t, p[0], p[1], p[2], x, y, z, w)))
    return _write_text(path, "\n".join(lines) + "\n")


# -- KITTI --------------------------------------------------------------------------------------
def read_kitti_times(path: PathLike) -> np.ndarray:
    """Read a KITTI ``times.txt``: one timestamp in seconds per line; returns (N,) float64."""
    rows, numbers = _read_rows(path, 1, 1, "kitti times", None)
    return _to_floats(rows, numbers, path, "kitti times", 1)[:, 0]


def read_kitti(path: PathLike, times_path: Optional[PathLike] = None) -> Trajectory:
    """Read a KITTI odometry pose file: 12 numbers per line, the top 3x4 rows of
    ``T_world_camera`` in row-major order. KITTI files carry no time: timestamps are the line
    index (0, 1, 2, ... as float seconds) unless ``times_path`` gives one per pose."""
    rows, numbers = _read_rows(path, 12, 12, "kitti", None)
    m = _to_floats(rows, numbers, path, "kitti", 12)
    if times_path is not None:
        t = read_kitti_times(times_path)
        if t.shape[0] != m.shape[0]:
            raise InputFileError(
                f"{times_path}: has {t.shape[0]} timestamps but {path} has {m.shape[0]} poses; they must match line by line"
            )
    else:
        t = np.arange(m.shape[0], dtype=np.float64)
    return Trajectory(t, m.reshape(-1, 3, 4), Path(path).stem)


def write_kitti(traj: Trajectory, path: PathLike, times_path: Optional[PathLike] = None) -> Path:
    """Write ``traj`` as a KITTI pose file (atomic); timestamps go to ``times_path`` if given
    (they are otherwise lost, as the format has none)."""
    lines = [" ".join(_fmt(v) for v in T[:3, :4].reshape(-1)) for T in traj.T_world_camera]
    out = _write_text(path, "\n".join(lines) + "\n")
    if times_path is not None:
        _write_text(times_path, "\n".join(_fmt(t) for t in traj.timestamps_s) + "\n")
    return out


# -- EuRoC --------------------------------------------------------------------------------------
def _ns_to_s(token: str, path, number) -> float:
    try:
        ns = int(token)
    except ValueError:
        try:
            ns = int(round(float(token)))
        except ValueError:
            raise InputFileError(f"{path}:{number}: EuRoC timestamp {token!r} is not an integer number of nanoseconds") from None
    sec, rem = divmod(ns, 1_000_000_000)
    return float(sec) + rem / 1e9


def read_euroc(path: PathLike) -> Trajectory:
    """Read a EuRoC ground-truth CSV (``state_groundtruth_estimate0/data.csv``):
    ``timestamp [ns], p_RS_R_x, p_RS_R_y, p_RS_R_z [m], q_RS_w, q_RS_x, q_RS_y, q_RS_z, ...``.

    The quaternion is **wxyz**, the time integer nanoseconds (converted to seconds exactly in
    integer arithmetic before the one float conversion); columns after the 8th are ignored.
    """
    rows, numbers = _read_rows(path, 8, None, "euroc", ",")
    t = np.array([_ns_to_s(r[0], path, n) for r, n in zip(rows, numbers)])
    m = _to_floats([r[1:8] for r in rows], numbers, path, "euroc", 7)
    T = np.tile(np.eye(4), (m.shape[0], 1, 1))
    T[:, :3, :3] = _quats_checked(m[:, 3:7], numbers, path)
    T[:, :3, 3] = m[:, 0:3]
    return Trajectory(t, T, Path(path).stem)


def write_euroc(traj: Trajectory, path: PathLike) -> Path:
    """Write ``traj`` as a EuRoC ground-truth CSV (integer ns, wxyz quaternion; atomic)."""
    q = traj.quat_wxyz
    lines = [EUROC_HEADER]
    for t, p, qq in zip(traj.timestamps_s, traj.positions, q):
        sec = np.floor(t)
        ns = int(sec) * 1_000_000_000 + int(round((t - sec) * 1e9))
        lines.append(",".join([str(ns)] + [_fmt(v) for v in (*p, *qq)]))
    return _write_text(path, "\n".join(lines) + "\n")


# -- dispatch -----------------------------------------------------------------------------------
def detect_format(path: PathLike) -> str:
    """Guess the format of a trajectory file from its content and extension.

    Rules: a header naming ``p_RS_R`` or a ``.csv`` file whose first data line is
    comma-separated with an integer first column -> ``euroc``; 12 values per line -> ``kitti``;
    8 values per line -> ``tum``. Raises ``InputFileError`` when none fits.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: trajectory file does not exist")
    header, first = "", None
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                header += s
                continue
            first = s
            break
    if first is None:
        raise InputFileError(f"{p}: no poses found (only comments or blank lines)")
    tokens = first.replace(",", " ").split()
    commas = "," in first
    if "p_RS_R" in header or (commas and p.suffix.lower() == ".csv" and len(tokens) >= 8 and tokens[0].isdigit()):
        return "euroc"
    if len(tokens) == 12:
        return "kitti"
    if len(tokens) == 8:
        return "tum"
    if commas and len(tokens) >= 8 and tokens[0].isdigit():
        return "euroc"
    raise InputFileError(
        f"{p}: cannot tell the trajectory format (first data line has {len(tokens)} values); "
        f"pass fmt= one of {', '.join(FORMATS)}"
    )


def _check_fmt(fmt: str) -> str:
    f = str(fmt).lower()
    if f not in FORMATS:
        raise InputFileError(f"unknown trajectory format {fmt!r}; use one of {', '.join(FORMATS)}")
    return f


def read_trajectory(path: PathLike, fmt: Optional[str] = None, times_path: Optional[PathLike] = None) -> Trajectory:
    """Read a trajectory file in ``fmt`` (``"tum"``, ``"kitti"``, ``"euroc"``; detected when None).

    ``times_path`` is only used for KITTI (one timestamp per pose).
    """
    f = detect_format(path) if fmt is None else _check_fmt(fmt)
    log.debug("reading %s as %s", path, f)
    if f == "tum":
        return read_tum(path)
    if f == "kitti":
        return read_kitti(path, times_path)
    return read_euroc(path)


def write_trajectory(traj: Trajectory, path: PathLike, fmt: Optional[str] = None,
                     times_path: Optional[PathLike] = None) -> Path:
    """Write ``traj`` to ``path`` atomically in ``fmt`` (default: ``euroc`` for ``.csv``, else ``tum``)."""
    f = ("euroc" if Path(path).suffix.lower() == ".csv" else "tum") if fmt is None else _check_fmt(fmt)
    if f == "tum":
        return write_tum(traj, path)
    if f == "kitti":
        return write_kitti(traj, path, times_path)
    return write_euroc(traj, path)
