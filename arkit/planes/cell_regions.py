"""Region growing over the cell grid of :mod:`arkit.planes.depth_extractor`.

Cells carry moment sums (see :mod:`arkit.planes.plane_fit`); adjacent planar cells join when
the union of their points is still a plane within the depth-noise model (PEAC's MSE test),
outlier cells are cut from their regions, and nearby coplanar regions merge.
"""

from __future__ import annotations

import functools

import numpy as np

from arkit.planes.plane_fit import fit_planes_from_moments, mean_cov6_from_moments, quadratic_form6


def dilated_pairs(own, R, grid):
    """Every (cell, region) pair where the cell is in the 8-neighbour dilation of the region.

    Parameters
    ----------
    own : (Ncell,) int
        Region of each cell, -1 for none.
    R : int
        Number of regions.
    grid : (Hc, Wc)

    Returns
    -------
    cells, regions : (P,) int
        Sorted by cell, then region.
    """
    Hc, Wc = grid
    M = np.zeros((Hc + 2, Wc + 2, R), bool)
    has = np.flatnonzero(own >= 0)
    r, c = np.divmod(has, Wc)
    M[r + 1, c + 1, own[has]] = True
    D = np.zeros((Hc, Wc, R), bool)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            D |= M[dr:dr + Hc, dc:dc + Wc]
    cells, regions = np.nonzero(D.reshape(Hc * Wc, R))
    return np.ascontiguousarray(cells), np.ascontiguousarray(regions)


def mse_to_planes(S, nrm, off) -> np.ndarray:
    """Mean squared distance (N,) of point sets with moment sums S (N, 10) to planes (N, 3), (N,)."""
    mu, c6 = mean_cov6_from_moments(S)
    return quadratic_form6(c6, nrm) + (np.einsum("ij,ij->i", nrm, mu) + off) ** 2


def _fit(S, ref, kernels):
    """Plane fits of moment sums S (N, 10), oriented along ref (N, 3) or towards the origin (None)."""
    if kernels is None:
        return fit_planes_from_moments(S, reference_normals=ref)
    ref = np.zeros((0, 3)) if ref is None else np.ascontiguousarray(ref, np.float64)
    return kernels.fit_planes(np.ascontiguousarray(S, np.float64), ref)


def _mse(S, nrm, off, kernels):
    """:func:`mse_to_planes`, compiled when ``kernels`` is given."""
    if kernels is None:
        return mse_to_planes(S, nrm, off)
    return kernels.mse_to_planes(np.ascontiguousarray(S, np.float64), np.ascontiguousarray(nrm, np.float64),
                                 np.ascontiguousarray(off, np.float64))


def _region_sums(S, reg, R, kernels):
    """:func:`region_sums`, compiled when ``kernels`` is given."""
    if kernels is None:
        return region_sums(S, reg, R)
    return kernels.region_sums(np.ascontiguousarray(S), np.ascontiguousarray(reg, np.int64), R)


def expected_noise2(S, p) -> np.ndarray:
    """Expected squared noise (N,) of point sets from their mean depth."""
    return p.sigma_m(S[:, 3] / np.maximum(S[:, 0], 1.0)) ** 2


def grow_region_labels(planar, normal, mean, S, grid, p, kernels=None):
    """Join adjacent planar cells whose union is still a plane (PEAC-style MSE test).

    Parameters
    ----------
    planar : (Ncell,) bool
        Cells that passed the planarity test.
    normal, mean : (Ncell, 3) float64
        Per-cell plane normal (towards the camera) and centroid.
    S : (Ncell, 10) float64
        Per-cell moment sums.
    grid : (Hc, Wc)
        Cell grid shape (cells are numbered row-major).
    p : DepthPlaneParams
        Noise model and thresholds.
    kernels : namespace, optional
        Compiled ``fit_planes`` / ``mse_to_planes`` (:func:`arkit.planes.depth_kernels.load`);
        the numpy versions otherwise (same results to rounding).

    Returns
    -------
    own : (Ncell,) int64
        Region of each cell, numbered largest first; -1 for none.
    normals : (R, 3) float64
    offsets : (R,) float64
        The regions' planes (R may be 0).
    """
    Hc, Wc = grid
    Ncell = Hc * Wc
    cos_merge = np.cos(np.radians(p.merge_angle_deg))
    f2 = p.merge_rms_factor ** 2
    e2 = expected_noise2(S, p)
    ea, eb, ey, ex = _grid_edges(Hc, Wc)
    if kernels is not None:
        ok = kernels.edge_merge_ok(ea, eb, planar, normal, S, e2, cos_merge, f2)
        a, b, ey, ex = ea[ok], eb[ok], ey[ok], ex[ok]
    else:
        sel = planar[ea] & planar[eb]
        a, b, ey, ex = ea[sel], eb[sel], ey[sel], ex[sel]
        ok = np.einsum("ij,ij->i", normal[a], normal[b]) > cos_merge
        a, b, ey, ex = a[ok], b[ok], ey[ok], ex[ok]
        Sab = S[a] + S[b]
        nm = normal[a] * S[a, :1] + normal[b] * S[b, :1]
        nm /= np.linalg.norm(nm, axis=1, keepdims=True)
        mu_ab = Sab[:, 1:4] / Sab[:, :1]
        mse = mse_to_planes(Sab, nm, -np.einsum("ij,ij->i", nm, mu_ab))
        ok = mse < f2 * (e2[a] * S[a, 0] + e2[b] * S[b, 0]) / Sab[:, 0]
        a, b, ey, ex = a[ok], b[ok], ey[ok], ex[ok]
    alive = planar.copy()
    on = np.ones(len(a), bool)
    for _ in range(3):                 # grow; cut cells that do not fit their region's plane; regrow
        keep = on & alive[a] & alive[b]
        img = np.zeros((2 * Hc - 1, 2 * Wc - 1), np.uint8)
        img[0::2, 0::2] = alive.reshape(Hc, Wc)
        img[ey[keep], ex[keep]] = 1
        ncomp, lab = connected_components_4(img)
        comp = lab[0::2, 0::2].ravel()
        comp = np.where(alive, comp, ncomp)
        sizes = np.bincount(comp, minlength=ncomp + 1)[:ncomp]
        big = sizes >= p.min_plane_cells
        relabel = np.full(ncomp + 1, -1)
        relabel[:ncomp][big] = np.arange(int(big.sum()))
        reg = relabel[comp]
        R = int(big.sum())
        if R == 0:
            return np.full(Ncell, -1), np.zeros((0, 3)), np.zeros(0)
        m = np.flatnonzero(reg >= 0)
        SR = _region_sums(S[m], reg[m], R, kernels)
        first = np.full(R, -1)
        first[reg[m][::-1]] = m[::-1]
        nR, oR, _, _ = _fit(SR, normal[first], kernels)
        bad = _mse(S[m], nR[reg[m]], oR[reg[m]], kernels) > f2 * e2[m]
        frac = np.bincount(reg[m], weights=bad, minlength=R) / np.bincount(reg[m], minlength=R)
        prune = bad & (frac[reg[m]] < 0.5)
        if not prune.any():
            break
        out = np.zeros(Ncell, bool)
        out[m[prune]] = True                                   # they may still form their own region
        on &= ~((out[a] != out[b]) & (reg[a] == reg[b]))
    noise = np.bincount(reg[m], weights=e2[m] * S[m, 0], minlength=R)
    reg = merge_coplanar_regions(reg, SR, nR, noise, grid, cos_merge, f2, kernels)
    R = int(reg.max()) + 1
    m = np.flatnonzero(reg >= 0)
    SR = _region_sums(S[m], reg[m], R, kernels)
    first = np.full(R, -1)
    first[reg[m][::-1]] = m[::-1]
    nR, oR, _, _ = _fit(SR, normal[first], kernels)
    order = np.argsort(-SR[:, 0], kind="stable")
    rank = np.empty(R + 1, np.int64)
    rank[order] = np.arange(R)
    rank[R] = -1
    return rank[reg], nR[order], oR[order]            # reg -1 -> rank[R] = -1


def grow_regions(planar, normal, mean, S, grid, p, kernels=None):
    """:func:`grow_region_labels` as a list of (cells (K,) int, normal (3,) float64, offset float), largest first."""
    own, nR, oR = grow_region_labels(planar, normal, mean, S, grid, p, kernels)
    if len(nR) == 0:
        return []
    cells = np.argsort(own, kind="stable")
    bounds = np.cumsum(np.bincount(own[own >= 0], minlength=len(nR)))
    cells = cells[np.count_nonzero(own < 0):]
    return [(c, nR[r], float(oR[r])) for r, c in enumerate(np.split(cells, bounds[:-1]))]


@functools.lru_cache(maxsize=8)
def _grid_edges(Hc, Wc):
    """Edges (a, b) between 4-neighbour cells of a (Hc, Wc) grid and their pixel (y, x) in a
    (2Hc-1, 2Wc-1) image: cell (i, j) at (2i, 2j), the edge to its right at (2i, 2j+1), the edge
    below at (2i+1, 2j). Read-only int64 arrays."""
    idx = np.arange(Hc * Wc).reshape(Hc, Wc)
    ea = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    eb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    ey = np.concatenate([2 * (ea[: Hc * (Wc - 1)] // Wc), 2 * (ea[Hc * (Wc - 1):] // Wc) + 1])
    ex = np.concatenate([2 * (ea[: Hc * (Wc - 1)] % Wc) + 1, 2 * (ea[Hc * (Wc - 1):] % Wc)])
    for a in (ea, eb, ey, ex):
        a.setflags(write=False)
    return ea, eb, ey, ex



def connected_components_4(img):
    """4-connected components of a uint8 0/1 image: (count incl. background 0, labels (H, W) int32)."""
    import cv2

    return cv2.connectedComponents(img, connectivity=4, ltype=cv2.CV_32S)


def region_sums(S, reg, R) -> np.ndarray:
    """Sum the rows of S (M, 10) by region label reg (M,) in [0, R) into (R, 10)."""
    onehot = np.zeros((R, len(reg)))
    onehot[reg, np.arange(len(reg))] = 1.0
    return onehot @ S


def merge_coplanar_regions(reg, SR, nR, noise, grid, cos_merge, f2, kernels=None) -> np.ndarray:
    """Merge regions whose union is a plane and that lie within two cells of each other.

    Parameters
    ----------
    reg : (Ncell,) int
        Region label per cell, -1 for none.
    SR : (R, 10) float64
        Region moment sums; nR (R, 3) their normals; noise (R,) sum of n * sigma**2.
    kernels : namespace, optional
        Compiled kernels (see :func:`grow_region_labels`): the whole merge runs compiled.

    Returns
    -------
    (Ncell,) int
        New labels 0..R'-1, -1 for none.
    """
    Hc, Wc = grid
    R = len(SR)
    if R < 2:
        return reg
    if kernels is not None:
        return kernels.merge_regions(np.ascontiguousarray(reg, np.int64), Hc, Wc, np.ascontiguousarray(SR),
                                     np.ascontiguousarray(nR), np.ascontiguousarray(noise, np.float64),
                                     float(cos_merge), float(f2))
    L = np.full((Hc + 4, Wc + 4), -1)
    L[2:-2, 2:-2] = reg.reshape(Hc, Wc)
    A = L[2:-2, 2:-2]
    # the 12 forward offsets of a 5x5 window (every unordered cell pair once), stacked
    B = np.stack([L[2 + dy:Hc + 2 + dy, 2 + dx:Wc + 2 + dx]
                  for dy, dx in [(0, 1), (0, 2)] + [(dy, dx) for dy in (1, 2) for dx in range(-2, 3)]])
    A = np.broadcast_to(A, B.shape)
    ok = (B >= 0) & (A != B)
    ok &= A >= 0
    a, b = A[ok], B[ok]
    keys = np.unique(np.minimum(a, b) * R + np.maximum(a, b))
    if len(keys) == 0:
        return reg
    i, j = np.divmod(keys, R)
    ok = np.einsum("ij,ij->i", nR[i], nR[j]) > cos_merge
    i, j = i[ok], j[ok]
    if len(i) == 0:
        return reg
    def scores(Si, Sj, ni, nj):
        # each side must fit the union's plane within its own noise (a near step must not
        # hide in the large noise budget of a far floor)
        nu, ou, _, _ = _fit(Si + Sj, None, kernels)
        si = _mse(Si, nu, ou, kernels) / (f2 * ni / Si[:, 0])
        sj = _mse(Sj, nu, ou, kernels) / (f2 * nj / Sj[:, 0])
        return np.maximum(si, sj)

    score = scores(SR[i], SR[j], noise[i], noise[j])
    parent = list(range(R))
    sums = {r: SR[r].copy() for r in range(R)}
    nz = {r: float(noise[r]) for r in range(R)}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    grown = set()                                  # roots whose sums changed since `score`
    for k in np.argsort(score):
        if score[k] >= 1.0:
            break
        ri, rj = root(int(i[k])), root(int(j[k]))
        if ri == rj:
            continue
        if (ri in grown or rj in grown) and \
                scores(sums[ri][None], sums[rj][None], np.array([nz[ri]]), np.array([nz[rj]]))[0] >= 1.0:
            continue
        grown.add(ri)
        parent[rj] = ri
        sums[ri], nz[ri] = sums[ri] + sums[rj], nz[ri] + nz[rj]
    roots = np.array([root(r) for r in range(R)])
    _, new = np.unique(roots, return_inverse=True)
    return np.where(reg >= 0, new[np.maximum(reg, 0)], -1)
