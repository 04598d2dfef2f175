"""Least-squares planes from moment sums (batched), the building block of plane extraction.

A set of points is summarised by the 10 sums ``[n, Sx, Sy, Sz, Sxx, Sxy, Sxz, Syy, Syz, Szz]``;
sums of disjoint sets add, so cells merge into regions and frames into a running fit by
addition. The plane is the eigenvector of the smallest eigenvalue of the covariance.
"""

from __future__ import annotations

import numpy as np

#: Column order of a moment-sum row.
MOMENT_NAMES = ("n", "x", "y", "z", "xx", "xy", "xz", "yy", "yz", "zz")


def moments_of_points(points) -> np.ndarray:
    """Moment sums (10,) float64 of points (N, 3) (centred internally for precision)."""
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n = len(P)
    if n == 0:
        return np.zeros(10)
    s1 = P.sum(0)
    C = P - s1 / n
    M = C.T @ C + np.outer(s1, s1) / n
    return np.array([n, s1[0], s1[1], s1[2], M[0, 0], M[0, 1], M[0, 2], M[1, 1], M[1, 2], M[2, 2]])


def covariance_from_moments(S) -> tuple:
    """Means (N, 3) and covariances (N, 3, 3) float64 from moment sums (N, 10)."""
    S = np.asarray(S, dtype=np.float64).reshape(-1, 10)
    n = np.maximum(S[:, 0], 1e-12)[:, None]
    mu = S[:, 1:4] / n
    C = S[:, _SYM].reshape(-1, 3, 3) / n[:, :, None] - mu[:, :, None] * mu[:, None, :]
    return mu, C


#: Columns of a moment row that form the 3x3 second-moment matrix.
_SYM = np.array([4, 5, 6, 5, 7, 8, 6, 8, 9])


#: Index pairs (i, j) of the 6 unique entries [xx, xy, xz, yy, yz, zz] of a 3x3 covariance.
_I6 = np.array([0, 0, 0, 1, 1, 2])
_J6 = np.array([0, 1, 2, 1, 2, 2])
#: Weight of each unique entry in a quadratic form ``n^T C n`` (off-diagonals count twice).
_W6 = np.array([1.0, 2.0, 2.0, 1.0, 2.0, 1.0])


def mean_cov6_from_moments(S) -> tuple:
    """Means (N, 3) and unique covariance entries (N, 6) ``[xx, xy, xz, yy, yz, zz]`` float64.

    Same numbers as :func:`covariance_from_moments` without building the (N, 3, 3) matrices."""
    S = np.asarray(S, dtype=np.float64).reshape(-1, 10)
    n = np.maximum(S[:, 0], 1e-12)[:, None]
    mu = S[:, 1:4] / n
    c6 = S[:, 4:10] / n
    c6 -= mu[:, _I6] * mu[:, _J6]
    return mu, c6


def quadratic_form6(c6, v) -> np.ndarray:
    """``v^T C v`` (N,) for covariances given by their unique entries c6 (N, 6) and vectors v (N, 3)."""
    return np.einsum("nk,nk->n", c6, v[:, _I6] * v[:, _J6] * _W6)


def eigh_smallest_3x3(C):
    """Eigenvalues (ascending) and the smallest eigenvalue's eigenvector of symmetric 3x3 matrices.

    Closed form (trigonometric roots of the characteristic cubic, eigenvector from the best
    cross product of two rows of ``C - lambda_min I``); several times faster than
    :func:`numpy.linalg.eigh` on batches of 3x3 matrices.

    Parameters
    ----------
    C : (N, 3, 3) float64
        Symmetric positive semi-definite matrices (covariances).

    Returns
    -------
    w : (N, 3) float64
        Eigenvalues, ascending.
    v : (N, 3) float64
        Unit eigenvector of ``w[:, 0]``.
    """
    C = np.asarray(C, np.float64).reshape(-1, 9)
    return _eigh_smallest6(C[:, [0, 1, 2, 4, 5, 8]])


def _eigh_smallest6(c6):
    """:func:`eigh_smallest_3x3` on unique entries c6 (N, 6) ``[xx, xy, xz, yy, yz, zz]``."""
    N = len(c6)
    q = (c6[:, 0] + c6[:, 3] + c6[:, 5]) / 3.0
    a, d, e, b, f, c = (c6 - q[:, None] * _DIAG6).T            # diagonal shifted by q
    p1 = d * d + e * e + f * f
    p = np.sqrt((a * a + b * b + c * c + 2.0 * p1) / 6.0)
    ps = np.where(p > 0, p, 1.0)
    # half the determinant of (C - q I) / p
    r = 0.5 * (a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)) / (ps * ps * ps)
    phi = np.arccos(np.clip(r, -1.0, 1.0)) / 3.0
    l_max = q + 2.0 * p * np.cos(phi)
    l_min = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    w = np.stack([l_min, 3.0 * q - l_max - l_min, l_max], 1)
    # rows of M = C - l_min I: (a', d, e), (d, b', f), (e, f, c'); v is orthogonal to all three
    s = q - l_min
    a_, b_, c_ = a + s, b + s, c + s
    cand = np.stack([d * f - e * b_, e * d - a_ * f, a_ * b_ - d * d,         # r0 x r1
                     d * c_ - e * f, e * e - a_ * c_, a_ * f - d * e,         # r0 x r2
                     b_ * c_ - f * f, f * e - d * c_, d * f - b_ * e], 1).reshape(N, 3, 3)
    norms = np.einsum("nkj,nkj->nk", cand, cand)
    best = np.argmax(norms, axis=1)
    idx = np.arange(N)
    v = cand[idx, best]
    nv = np.sqrt(norms[idx, best])
    degenerate = nv < 1e-300
    v = np.where(degenerate[:, None], np.array([0.0, 0.0, 1.0]), v / np.where(degenerate, 1.0, nv)[:, None])
    return w, v


_DIAG6 = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])


#: Batches smaller than this go to :func:`numpy.linalg.eigh` (less overhead on a few matrices).
_LAPACK_BELOW = 32
#: Unique covariance entries -> row-major 3x3.
_FULL9 = np.array([0, 1, 2, 1, 3, 4, 2, 4, 5])


def fit_planes_from_moments(S, reference_normals=None, viewpoint=None):
    """Planes ``n . p + d = 0`` of many point sets at once.

    Parameters
    ----------
    S : (N, 10) float64
        Moment sums (see :data:`MOMENT_NAMES`).
    reference_normals : (N, 3) or (3,) float64, optional
        Orient each normal to agree with this direction.
    viewpoint : (3,) float64, optional
        Otherwise orient each normal towards this point (default: the origin, i.e. the camera).

    Returns
    -------
    normal : (N, 3) float64
        Unit normals.
    offset : (N,) float64
    mean : (N, 3) float64
        Centroids.
    eigenvalues : (N, 3) float64
        Ascending eigenvalues of the covariance; ``eigenvalues[:, 0]`` is the mean squared
        point-to-plane distance.
    """
    mu, c6 = mean_cov6_from_moments(S)
    if len(c6) >= _LAPACK_BELOW:
        w, nrm = _eigh_smallest6(c6)
    else:                                     # LAPACK has less overhead on a few matrices
        w, V = np.linalg.eigh(c6[:, _FULL9].reshape(-1, 3, 3))
        nrm = V[:, :, 0]
    if reference_normals is not None:
        ref = np.broadcast_to(np.asarray(reference_normals, np.float64), nrm.shape)
        flip = np.einsum("ij,ij->i", nrm, ref) < 0
    else:
        vp = np.zeros(3) if viewpoint is None else np.asarray(viewpoint, np.float64).reshape(3)
        flip = np.einsum("ij,ij->i", nrm, vp - mu) < 0
    nrm = np.where(flip[:, None], -nrm, nrm)
    off = -np.einsum("ij,ij->i", nrm, mu)
    return nrm, off, mu, w


def fit_plane_from_moments(S, reference_normal) -> tuple:
    """:func:`fit_planes_from_moments` of one point set (10,) with a reference normal (3,):
    ``(normal (3,), offset, mean (3,))``, the same numbers without the batch machinery (the
    plane manager refits one plane at a time, a dozen times a frame on real scenes)."""
    mu, c6 = mean_cov6_from_moments(S)
    _, V = np.linalg.eigh(c6[:, _FULL9].reshape(-1, 3, 3))
    nrm = np.ascontiguousarray(V[:, :, 0])   # (contiguous, as in the batch function: same sums)
    if np.einsum("ij,j->i", nrm, np.asarray(reference_normal, np.float64).reshape(3))[0] < 0:
        nrm = -nrm
    return nrm[0], -np.einsum("ij,ij->i", nrm, mu)[0], mu[0]


def transform_plane(T_dst_src, normal, offset):
    """Express the plane ``n . p + d = 0`` given in frame ``src`` in frame ``dst``.

    Parameters
    ----------
    T_dst_src : (4, 4) float64
    normal : (3,) float64
    offset : float

    Returns
    -------
    normal_dst : (3,) float64
    offset_dst : float
    """
    T = np.asarray(T_dst_src, np.float64)
    n = T[:3, :3] @ np.asarray(normal, np.float64).reshape(3)
    return n, float(offset - n @ T[:3, 3])


def transform_moments(T_dst_src, S) -> np.ndarray:
    """Moment sums (10,) of a point set expressed in ``src``, re-expressed in ``dst``."""
    T = np.asarray(T_dst_src, np.float64)
    S = np.asarray(S, np.float64).reshape(10)
    n = S[0]
    if n <= 0:
        return np.zeros(10)
    R, t = T[:3, :3], T[:3, 3]
    s1 = S[1:4]
    M = np.array([[S[4], S[5], S[6]], [S[5], S[7], S[8]], [S[6], S[8], S[9]]])
    s1d = R @ s1 + n * t
    Md = R @ M @ R.T + np.outer(R @ s1, t) + np.outer(t, R @ s1) + n * np.outer(t, t)
    return np.array([n, *s1d, Md[0, 0], Md[0, 1], Md[0, 2], Md[1, 1], Md[1, 2], Md[2, 2]])
