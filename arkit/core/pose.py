"""Rigid transforms (SE(3)) as 4x4 float64 matrices.

Naming follows ``T_dst_src``: ``p_dst = T_dst_src @ p_src``. Quaternion functions carry their
component order in the name (``quat_wxyz``, ``quat_xyzw``). Camera axes inside arkit are OpenCV's
(x right, y down, z forward); :func:`opencv_to_opengl_camera` is the one place that converts to
OpenGL's (x right, y up, -z forward).

The free functions are the implementation; :class:`Pose` is a thin immutable wrapper for code
that prefers methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from arkit.core.errors import ArkitError

#: Flips y and z: maps OpenCV camera coordinates to OpenGL camera coordinates (and back).
CV_FROM_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def as_transform(T, name: str = "transform") -> np.ndarray:
    """Return ``T`` as a (4, 4) float64 array, raising a clear error for a wrong shape.

    Parameters
    ----------
    T : array_like (4, 4) or (3, 4)
        A rigid transform; a (3, 4) matrix gets the row ``[0, 0, 0, 1]`` appended.
    name : str
        Used in the error message.
    """
    A = np.asarray(T, dtype=np.float64)
    if A.shape == (3, 4):
        A = np.vstack([A, [0.0, 0.0, 0.0, 1.0]])
    if A.shape != (4, 4):
        raise ArkitError(f"{name} must be a 4x4 (or 3x4) matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ArkitError(f"{name} contains NaN or infinite values")
    return A


def from_rt(R=None, t=None) -> np.ndarray:
    """Build ``T`` from a (3, 3) rotation and a (3,) translation (either may be omitted)."""
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = np.asarray(R, dtype=np.float64).reshape(3, 3)
    if t is not None:
        T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def invert(T) -> np.ndarray:
    """Inverse of a rigid transform: ``invert(T_a_b) == T_b_a`` (exact, no general inverse)."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def transform_points(T, points) -> np.ndarray:
    """Apply ``T`` (4, 4) to ``points`` (N, 3); returns (N, 3) float64."""
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    T = np.asarray(T, dtype=np.float64)
    return P @ T[:3, :3].T + T[:3, 3]


def rotvec_to_matrix(rotvec) -> np.ndarray:
    """Rodrigues: axis-angle (3,) in radians to a (3, 3) rotation matrix."""
    r = np.asarray(rotvec, dtype=np.float64).reshape(3)
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        K = _skew(r)
        return np.eye(3) + K
    k = r / theta
    K = _skew(k)
    return np.eye(3) + np.sin(theta) * K + (1.0 - np.cos(theta)) * (K @ K)


def matrix_to_rotvec(R) -> np.ndarray:
    """Inverse of :func:`rotvec_to_matrix`; returns (3,) radians."""
    q = matrix_to_quat_wxyz(R)
    w, v = q[0], q[1:]
    n = np.linalg.norm(v)
    if n < 1e-12:
        return 2.0 * v
    angle = 2.0 * np.arctan2(n, w)
    return v / n * angle


def _skew(v) -> np.ndarray:
    x, y, z = v
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def quat_wxyz_to_matrix(q) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` to a (3, 3) rotation matrix (normalises the input)."""
    q = np.asarray(q, dtype=np.float64).reshape(4)
    n = np.linalg.norm(q)
    if n < 1e-12:
        raise ArkitError("quaternion has zero norm")
    w, x, y, z = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat_wxyz(R) -> np.ndarray:
    """(3, 3) rotation matrix to a unit quaternion ``(w, x, y, z)`` with ``w >= 0``."""
    R = np.asarray(R, dtype=np.float64)[:3, :3]
    tr = np.trace(R)
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = np.array([0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s])
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2]) * 2
        q = np.array([(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s])
    elif R[1, 1] > R[2, 2]:
        s = np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2]) * 2
        q = np.array([(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s])
    else:
        s = np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1]) * 2
        q = np.array([(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s])
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def quat_xyzw_to_wxyz(q) -> np.ndarray:
    """Reorder ``(x, y, z, w)`` to ``(w, x, y, z)``."""
    q = np.asarray(q, dtype=np.float64).reshape(4)
    return np.array([q[3], q[0], q[1], q[2]])


def quat_wxyz_to_xyzw(q) -> np.ndarray:
    """Reorder ``(w, x, y, z)`` to ``(x, y, z, w)``."""
    q = np.asarray(q, dtype=np.float64).reshape(4)
    return np.array([q[1], q[2], q[3], q[0]])


def opencv_to_opengl_camera(T_world_camera_cv) -> np.ndarray:
    """Convert a camera pose with OpenCV axes to the same camera with OpenGL axes.

    ``T_world_camera_gl = T_world_camera_cv @ CV_FROM_GL``. The conversion is its own inverse,
    so :func:`opengl_to_opencv_camera` is the same operation.
    """
    return np.asarray(T_world_camera_cv, dtype=np.float64) @ CV_FROM_GL


def opengl_to_opencv_camera(T_world_camera_gl) -> np.ndarray:
    """Convert a camera pose with OpenGL axes (ARKit, nerfstudio) to OpenCV axes."""
    return np.asarray(T_world_camera_gl, dtype=np.float64) @ CV_FROM_GL


def rotation_angle_deg(R_a, R_b) -> float:
    """Angle in degrees of the relative rotation between two (3, 3) rotations."""
    R = np.asarray(R_a)[:3, :3].T @ np.asarray(R_b)[:3, :3]
    c = (np.trace(R) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def readonly(a: np.ndarray) -> np.ndarray:
    """Return a read-only copy of ``a`` (results never share writable buffers)."""
    out = np.array(a, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Pose:
    """An immutable rigid transform ``T_dst_src`` (4x4 float64, read-only ``matrix``).

    >>> T_world_cam = Pose.from_rt(t=[0, 0, 1])
    >>> (T_world_cam @ T_world_cam.inverse()).matrix.round(6).tolist()[0]
    [1.0, 0.0, 0.0, 0.0]
    """

    matrix: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "matrix", readonly(as_transform(self.matrix, "Pose")))

    @classmethod
    def identity(cls) -> "Pose":
        return cls(np.eye(4))

    @classmethod
    def from_rt(cls, R=None, t=None) -> "Pose":
        return cls(from_rt(R, t))

    @classmethod
    def from_quat_wxyz(cls, quat_wxyz: Sequence[float], t=None) -> "Pose":
        return cls(from_rt(quat_wxyz_to_matrix(quat_wxyz), t))

    @classmethod
    def from_quat_xyzw(cls, quat_xyzw: Sequence[float], t=None) -> "Pose":
        return cls(from_rt(quat_wxyz_to_matrix(quat_xyzw_to_wxyz(quat_xyzw)), t))

    @classmethod
    def from_rotvec(cls, rotvec, t=None) -> "Pose":
        return cls(from_rt(rotvec_to_matrix(rotvec), t))

    @property
    def R(self) -> np.ndarray:
        return self.matrix[:3, :3]

    @property
    def t(self) -> np.ndarray:
        return self.matrix[:3, 3]

    @property
    def quat_wxyz(self) -> np.ndarray:
        return matrix_to_quat_wxyz(self.matrix)

    @property
    def quat_xyzw(self) -> np.ndarray:
        return quat_wxyz_to_xyzw(self.quat_wxyz)

    def inverse(self) -> "Pose":
        return Pose(invert(self.matrix))

    def transform_points(self, points) -> np.ndarray:
        return transform_points(self.matrix, points)

    def __matmul__(self, other):
        if isinstance(other, Pose):
            return Pose(self.matrix @ other.matrix)
        return self.matrix @ np.asarray(other)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.matrix, dtype=dtype)
