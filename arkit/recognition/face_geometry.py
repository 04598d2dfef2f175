"""Metric face pose from face-mesh landmarks (pure numpy + one cv2 PnP call).

Two routes to ``T_camera_face`` for a MediaPipe face mesh (468 or 478 landmarks):

* :func:`pose_from_landmarks`: a PnP fit of a few landmarks to :data:`CANONICAL_FACE_M`, a small
  sparse average adult face (8 points). Works with any landmarker output.
* :func:`pose_from_mediapipe_matrix`: the landmarker's own facial transformation matrix (its
  Procrustes fit of a dense canonical mesh; centimetres, OpenGL camera axes), converted to
  arkit's axes; the origin is then moved to arkit's face origin by a linear least-squares
  translation fit, so both routes put content at the same place.

Face local frame (as :mod:`~arkit.recognition.mediapipe_face`): +X towards the image right of a
frontal face (the subject's left), +Y out of the face towards the viewer, +Z down towards the
chin. Origin: between the inner eye corners, on the line joining them (where the bridge of a
pair of glasses sits).

Where the table comes from: average adult anthropometry, rounded to millimetres, written for
arkit (not a copy of MediaPipe's canonical mesh): inner canthal width 32 mm, outer canthal width
90 mm with the outer corners ~10 mm behind the inner ones; nose tip 42 mm below the eye line
and 28 mm in front of it; mouth 50 mm wide, 72 mm below the eye line; chin 120 mm below. Heads
differ from it by several millimetres, so expect a few degrees and ~10 % depth error.

>>> import numpy as np
>>> from arkit.core.camera import Intrinsics
>>> K = Intrinsics(640, 480, 600, 600, 319.5, 239.5)
>>> T = np.eye(4); T[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]; T[2, 3] = 0.6   # frontal face
>>> lm = np.zeros((478, 2)); lm[list(CANONICAL_FACE_M)] = K.project(synthetic_points(T))
>>> bool(np.allclose(pose_from_landmarks(lm, K), T, atol=1e-9))
True
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.pose import from_rt

#: Face-mesh landmark index -> (x, y, z) in metres in the face frame (see the module doc).
CANONICAL_FACE_M = {
    33: (-0.045, -0.010, 0.000),    # right eye, outer corner (image left)
    133: (-0.016, 0.000, 0.000),    # right eye, inner corner
    362: (0.016, 0.000, 0.000),     # left eye, inner corner
    263: (0.045, -0.010, 0.000),    # left eye, outer corner
    1: (0.000, 0.028, 0.042),       # nose tip
    61: (-0.025, 0.003, 0.072),     # mouth, right corner
    291: (0.025, 0.003, 0.072),     # mouth, left corner
    152: (0.000, 0.003, 0.120),     # chin
}
MIN_FACE_LANDMARKS = 468

#: arkit face axes expressed in MediaPipe's canonical face axes (x subject's left, y up, z out of
#: the face): arkit X = mp x, arkit Y = mp z, arkit Z = -mp y.
_R_MP_FACE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: OpenGL camera (y up, looking along -z) to OpenCV camera (y down, +z forward).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def canonical_points() -> tuple:
    """``(indices (N,) int, points (N, 3) float64)`` of :data:`CANONICAL_FACE_M`."""
    idx = np.array(list(CANONICAL_FACE_M), dtype=int)
    return idx, np.array([CANONICAL_FACE_M[i] for i in idx], dtype=np.float64)


def synthetic_points(T_camera_face) -> np.ndarray:
    """The canonical points in the camera frame, (N, 3) float64 (for tests and examples)."""
    _, P = canonical_points()
    T = np.asarray(T_camera_face, np.float64)
    return P @ T[:3, :3].T + T[:3, 3]


def _check(landmarks_px) -> np.ndarray:
    a = np.asarray(landmarks_px, np.float64)
    if a.ndim != 2 or a.shape[0] < MIN_FACE_LANDMARKS or a.shape[1] < 2:
        raise ArkitError(f"face landmarks must be (>= {MIN_FACE_LANDMARKS}, 2) pixels, got shape {a.shape}")
    return a[:, :2]


def translation_for_rotation(R_camera_face, landmarks_px, intrinsics: Intrinsics) -> Optional[np.ndarray]:
    """Least-squares translation ``t`` (3,) putting the canonical points, rotated by ``R``, onto
    their landmarks: each point gives two equations linear in ``t`` (``x * Z_c - X_c = 0`` with
    normalised image coordinates). None when the fit puts the face behind the camera."""
    idx, P = canonical_points()
    xy = intrinsics.unproject(_check(landmarks_px)[idx])[:, :2]
    RP = P @ np.asarray(R_camera_face, np.float64).T
    A = np.zeros((2 * len(idx), 3))
    b = np.zeros(2 * len(idx))
    for k, ((x, y), q) in enumerate(zip(xy, RP)):
        A[2 * k] = (-1.0, 0.0, x)
        A[2 * k + 1] = (0.0, -1.0, y)
        b[2 * k] = q[0] - x * q[2]
        b[2 * k + 1] = q[1] - y * q[2]
    t, *_ = np.linalg.lstsq(A, b, rcond=None)
    return t if np.isfinite(t).all() and t[2] > 0 else None


def pose_from_landmarks(landmarks_px, intrinsics: Intrinsics) -> Optional[np.ndarray]:
    """``T_camera_face`` (4, 4) float64 by PnP of :data:`CANONICAL_FACE_M` to the landmarks.

    Parameters
    ----------
    landmarks_px : (N, 2) float, N >= 468
        Face-mesh landmarks in pixels (MediaPipe order).
    intrinsics : Intrinsics
        Lens distortion is removed before the fit.

    Returns
    -------
    (4, 4) float64 or None
        None when the fit fails or puts the face behind the camera / facing away.
    """
    import cv2

    idx, P = canonical_points()
    px = _check(landmarks_px)[idx]
    if not np.isfinite(px).all():
        return None
    xy = np.ascontiguousarray(intrinsics.unproject(px)[:, :2]).reshape(-1, 1, 2)  # cv2 needs contiguous
    ok, rvec, tvec = cv2.solvePnP(P, xy, np.eye(3), None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return None
    rvec, tvec = cv2.solvePnPRefineLM(P, xy, np.eye(3), None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    t = tvec.reshape(3)
    if not (np.isfinite(t).all() and t[2] > 0):
        return None
    if float(R[:, 1] @ (-t / np.linalg.norm(t))) < 0.0:  # +Y must point towards the camera
        return None
    return from_rt(R, t)


def pose_from_mediapipe_matrix(matrix, landmarks_px, intrinsics: Intrinsics) -> Optional[np.ndarray]:
    """``T_camera_face`` from a FaceLandmarker facial transformation matrix.

    Parameters
    ----------
    matrix : (4, 4) float
        MediaPipe's face pose: canonical face (cm; x subject's left, y up, z out of the face) to
        an OpenGL-axes camera.
    landmarks_px : (N, 2) float
        The same face's landmarks (to place arkit's origin, see the module doc).

    Returns
    -------
    (4, 4) float64 or None
        Rotation from the matrix, translation fitted to the landmarks (None if that fails).
    """
    M = np.asarray(matrix, np.float64)
    if M.shape != (4, 4) or not np.isfinite(M).all():
        raise ArkitError(f"facial transformation matrix must be a finite (4, 4) array, got shape {M.shape}")
    R = _GL_TO_CV @ M[:3, :3]
    U, _, Vt = np.linalg.svd(R)  # drop scale / numerical drift
    R = U @ Vt @ _R_MP_FACE
    t = translation_for_rotation(R, landmarks_px, intrinsics)
    return None if t is None else from_rt(R, t)
