"""numpy implementation of the per-pixel stages of :mod:`arkit.planes.depth_extractor`.

Used when numba is not installed (see :mod:`arkit.planes.depth_kernels`, which does the same
work in one compiled pass per stage). Everything works on a cell-major copy of the depth image,
``(Ncell, cs*cs)``, so that per-cell sums are contiguous reductions and per-plane pixel tests
only touch the cells they need.
"""

from __future__ import annotations

import numpy as np

from arkit.planes.cell_regions import region_sums


def to_cells(img: np.ndarray, cs: int, grid) -> np.ndarray:
    """(H, W) -> (Hc*Wc, cs*cs) cell-major copy (the bottom/right remainder is dropped)."""
    Hc, Wc = grid
    a = img[: Hc * cs, : Wc * cs].reshape(Hc, cs, Wc, cs).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(a).reshape(Hc * Wc, cs * cs)


def from_cells(cells: np.ndarray, cs: int, grid, shape, fill) -> np.ndarray:
    """(Hc*Wc, cs*cs) cell-major -> (H, W) image; the remainder is ``fill``."""
    Hc, Wc = grid
    H, W = shape
    img = cells.reshape(Hc, Wc, cs, cs).transpose(0, 2, 1, 3).reshape(Hc * cs, Wc * cs)
    if (Hc * cs, Wc * cs) == (H, W):
        return img
    out = np.full((H, W), fill, dtype=cells.dtype)
    out[: Hc * cs, : Wc * cs] = img
    return out


def cell_moments(depth, rx_cells, ry_cells, cs: int, grid):
    """Per-cell moment sums and the cleaned cell-major depth.

    Parameters
    ----------
    depth : (H, W) float32
        Metres; NaN, inf and values <= 0 are invalid.
    rx_cells, ry_cells : (Ncell, cs*cs) float32
        Cell-major ray slopes (x = rx * z, y = ry * z).

    Returns
    -------
    S : (Ncell, 10) float64
    Z : (Ncell, cs*cs) float32
        Cell-major depth with invalid pixels set to 0.
    """
    Z = to_cells(depth, cs, grid)                        # a copy, cell-major
    lo, hi = float(Z.min()), float(Z.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        np.nan_to_num(Z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        lo = float(Z.min())
    if lo < 0:
        np.maximum(Z, 0.0, out=Z)
    S = moment_sums(rx_cells * Z, ry_cells * Z, Z, overwrite_xy=True)
    return S, Z


def moment_sums(X, Y, Z, w=None, overwrite_xy=False, shift=None) -> np.ndarray:
    """Per-cell sums [n, x, y, z, xx, xy, xz, yy, yz, zz] (Ncell, 10) float64 from cell-major arrays.

    ``w`` (Ncell, cs*cs) float32 0/1 selects the pixels (default: valid depth, Z > 0).
    ``overwrite_xy=True`` lets the function use ``X`` and ``Y`` as scratch (saves two copies).
    ``shift`` (Ncell, 3), a point near each cell's selected points (e.g. the mean of all its
    pixels), saves the pass that computes the exact means.

    Second moments are accumulated about each cell's mean (float32 products of small numbers)
    and shifted back in float64, so the covariance keeps sub-millimetre precision."""
    N, cs2 = Z.shape
    S = np.empty((N, 10))
    ones = np.ones(cs2, np.float32)
    v = (Z > 0).astype(np.float32) if w is None else w
    # row sums as float32 matrix-vector products (BLAS, several times faster than ndarray.sum
    # with a float64 accumulator); their rounding cancels in the covariance, see below
    n = (v @ ones).astype(np.float64)
    S[:, 0] = n
    if shift is None:
        if w is not None:
            X, Y, Z = X * w, Y * w, Z * w
            overwrite_xy = True
        S[:, 1] = X @ ones
        S[:, 2] = Y @ ones
        S[:, 3] = Z @ ones
        mu = (S[:, 1:4] / np.maximum(n, 1.0)[:, None]).astype(np.float32)
    else:
        mu = np.asarray(shift, np.float32)
    # centre in place: (a - m) * v  (invalid / unselected pixels become exactly 0)
    if not overwrite_xy:
        X, Y = X.copy(), Y.copy()
    Xc = np.subtract(X, mu[:, 0:1], out=X)
    Xc *= v
    Yc = np.subtract(Y, mu[:, 1:2], out=Y)
    Yc *= v
    Zc = np.subtract(Z, mu[:, 2:3], out=Z if (w is not None and shift is None) else None)
    Zc *= v
    if shift is not None:                 # first sums = sums about the shift + n * shift
        S[:, 1] = Xc @ ones
        S[:, 2] = Yc @ ones
        S[:, 3] = Zc @ ones
        S[:, 1:4] += n[:, None] * mu
    c = np.empty((N, 6))
    c[:, 0] = np.einsum("ij,ij->i", Xc, Xc)
    c[:, 1] = np.einsum("ij,ij->i", Xc, Yc)
    c[:, 2] = np.einsum("ij,ij->i", Xc, Zc)
    c[:, 3] = np.einsum("ij,ij->i", Yc, Yc)
    c[:, 4] = np.einsum("ij,ij->i", Yc, Zc)
    c[:, 5] = np.einsum("ij,ij->i", Zc, Zc)
    # sum (a - m)(b - m') about the float32 mean m -> raw sums: + m*Sb + m'*Sa - n m m'
    m = mu.astype(np.float64)
    for k, (i, j) in enumerate(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))):
        S[:, 4 + k] = c[:, k] + m[:, i] * S[:, 1 + j] + m[:, j] * S[:, 1 + i] - n * m[:, i] * m[:, j]
    return S


def cell_sigma(Z, p) -> np.ndarray:
    """Per-pixel inlier threshold ``inlier_factor * sigma(z)`` (cell-major float32)."""
    s = np.maximum(Z, np.float32(p.noise_z0_m))
    s -= np.float32(p.noise_z0_m)
    s *= s
    s *= np.float32(p.inlier_factor * p.noise_b_per_m)
    s += np.float32(p.inlier_factor * p.noise_a_m)
    return s


def assign_pixels(Z, rx_cells, ry_cells, S, pc, pr, whole, nR, oR, p):
    """Pixel-level plane assignment and the inliers' moment sums per region.

    Parameters
    ----------
    Z, rx_cells, ry_cells : (Ncell, cs*cs) float32
        Cell-major depth (0 = invalid) and ray slopes.
    S : (Ncell, 10) float64
        Cell moment sums.
    pc, pr : (P,) int
        (cell, region) pairs sorted by cell; whole (P,) bool marks cells taken whole.
    nR, oR : (R, 3), (R,)
        Region planes.
    p : DepthPlaneParams

    Returns
    -------
    SR : (R, 10) float64
        Moment sums of each region's inliers.
    tot : (R,) float64
        Inlier counts.
    lab : (Ncell, cs*cs) int16
        Cell-major region number per pixel (-1: none).
    """
    R = len(nR)
    n = S[:, 0]
    wc, wr = pc[whole], pr[whole]
    pc, pr = pc[~whole], pr[~whole]
    nR = np.asarray(nR, np.float32)
    oR = np.asarray(oR, np.float32)
    Zp = Z[pc]
    new_cell = np.r_[True, pc[1:] != pc[:-1]] if len(pc) else np.zeros(0, bool)
    starts = np.flatnonzero(new_cell)
    group = np.cumsum(new_cell) - 1
    # 1 / threshold once per cell (several pairs share a cell); inf on invalid pixels
    Zu = Z[pc[starts]]
    inv_thr = cell_sigma(Zu, p)
    np.reciprocal(inv_thr, out=inv_thr)
    inv_thr[Zu <= 0] = np.inf
    ratio = rx_cells[pc] * nR[pr, 0:1]
    ratio += ry_cells[pc] * nR[pr, 1:2]
    ratio += nR[pr, 2:3]
    ratio *= Zp
    ratio += oR[pr, None]
    np.abs(ratio, out=ratio)
    ratio *= inv_thr[group]
    lab = np.full(Z.shape, -1, np.int16)
    lab[wc] = np.where(Z[wc] > 0, wr[:, None].astype(np.int16), np.int16(-1))
    tot = np.bincount(wr, weights=n[wc], minlength=R)
    SR = region_sums(S[wc], wr, R)
    if not len(pc):
        return SR, tot, lab
    # per cell, the closest region below threshold; pairs are sorted by cell, so the
    # j-th pair of every cell is handled at once (j < number of regions reaching a cell)
    rank = np.arange(len(pc)) - starts[group]
    best = ratio[starts]
    lab_hit = np.where(best < 1.0, pr[starts, None].astype(np.int16), np.int16(-1))
    for j in range(1, int(rank.max()) + 1):
        rows = np.flatnonzero(rank == j)
        g = group[rows]
        rj = ratio[rows]
        better = rj < best[g]
        best[g] = np.where(better, rj, best[g])
        lab_hit[g] = np.where(better & (rj < 1.0), pr[rows, None].astype(np.int16), lab_hit[g])
    lab[pc[starts]] = lab_hit
    # refit sums: cells whose pixels all went to one region add their cell sums; the others
    # sum the moments of the inlier pixels
    inl = lab_hit[group] == pr[:, None]                    # (pairs, cs*cs)
    cnt = inl.sum(axis=1)
    tot += np.bincount(pr, weights=cnt, minlength=R)
    full = (cnt == n[pc]) & (cnt > 0)
    part = np.flatnonzero(~full & (cnt > 0))
    SR += region_sums(S[pc[full]], pr[full], R)
    if len(part):
        q = pc[part]
        Zq = Zp[part]
        shift = S[q, 1:4] / np.maximum(n[q], 1.0)[:, None]      # centre on the cell's mean
        SR += region_sums(moment_sums(rx_cells[q] * Zq, ry_cells[q] * Zq, Zq, inl[part].astype(np.float32),
                                      overwrite_xy=True, shift=shift), pr[part], R)
    return SR, tot, lab

