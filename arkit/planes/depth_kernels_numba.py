"""The numba kernels of the depth plane extractor (imported only through :func:`arkit.planes.depth_kernels.load`).

Module-level functions so that numba's on-disk cache (``cache=True``) works for all of them,
including those that call other kernels. See :mod:`arkit.planes.depth_kernels` for what each
stage computes and the numpy fallback.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# reassociation lets LLVM vectorise the sums; no "nnan"/"ninf": the validity tests need NaN / inf
jit = nb.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})


@jit
def cell_moments(depth, rx, ry, cs, Hc, Wc):
    """Moment sums (Hc*Wc, 10) float64 of the valid pixels (0 < z < inf) of every cs x cs cell.

    depth, rx, ry : (H, W) float32 (depth metres; x = rx * z, y = ry * z). Raw float64 sums
    (no centring needed at float64 precision). Each row of cells is summed down its cs image
    rows into per-column accumulators first (contiguous, vectorisable), then across."""
    S = np.zeros((Hc * Wc, 10))
    W = Wc * cs
    acc = np.zeros((10, W))
    for ci in range(Hc):
        acc[:] = 0.0
        for v in range(ci * cs, ci * cs + cs):
            dv = depth[v]
            rxv = rx[v]
            ryv = ry[v]
            for u in range(W):
                z = np.float64(dv[u])
                ok = (z > 0.0) & (z < np.inf)          # NaN compares false
                z = z if ok else 0.0
                x = rxv[u] * z
                y = ryv[u] * z
                acc[0, u] += 1.0 if ok else 0.0
                acc[1, u] += x
                acc[2, u] += y
                acc[3, u] += z
                acc[4, u] += x * x
                acc[5, u] += x * y
                acc[6, u] += x * z
                acc[7, u] += y * y
                acc[8, u] += y * z
                acc[9, u] += z * z
        for cj in range(Wc):
            k = ci * Wc + cj
            for m in range(10):
                t = 0.0
                for u in range(cj * cs, cj * cs + cs):
                    t += acc[m, u]
                S[k, m] = t
    return S


@jit
def assign_pixels(depth, rx, ry, cs, Wc, pc, pr, starts, whole, S, nR, oR,
                  thr_a, thr_b, z0, labels, SR, tot):
    """Label the pixels of the (cell, region) pairs and sum the inliers' moments per region.

    pc, pr : (P,) int64 pairs sorted by cell; starts (G,) first pair of each cell; whole (P,)
    bool: the cell is taken whole (all valid pixels, its sums S[cell]). Otherwise a valid pixel
    goes to the closest region of its cell when ``|n . p + d| < thr_a + thr_b * (max(z, z0) -
    z0)**2``. Writes region number + 1 into labels (H, W) uint8 or int16 (preset 0 = none),
    adds to SR (R, 10) and tot (R,).

    The image is walked row by row (streaming memory access; a cell-by-cell walk jumps
    between rows and stalls on memory); within a row, each cell's cs pixels go through
    short branch-free loops that LLVM vectorises. Each pair's sums are kept about its cell's
    mean (precision)."""
    P = pc.shape[0]
    G = starts.shape[0]
    Hc = labels.shape[0] // cs
    gend = np.empty(G, np.int64)
    group = np.full(Hc * Wc, -1, np.int64)
    cm = np.zeros((G, 3))
    for g in range(G):
        s = starts[g]
        gend[g] = starts[g + 1] if g + 1 < G else P
        cell = pc[s]
        group[cell] = g
        nc = max(S[cell, 0], 1.0)
        cm[g, 0] = S[cell, 1] / nc
        cm[g, 1] = S[cell, 2] / nc
        cm[g, 2] = S[cell, 3] / nc
        if gend[g] - s == 1 and whole[s]:
            r = pr[s]
            for k in range(10):
                SR[r, k] += S[cell, k]
            tot[r] += S[cell, 0]
    acc = np.zeros((P, 10))
    X = np.empty(cs)
    Y = np.empty(cs)
    Z = np.empty(cs)
    best = np.empty(cs)
    lbl = np.empty(cs, np.int64)
    for v in range(Hc * cs):
        ci = v // cs
        dv = depth[v]
        rxv = rx[v]
        ryv = ry[v]
        lv = labels[v]
        for cj in range(Wc):
            g = group[ci * Wc + cj]
            if g < 0:
                continue
            s = starts[g]
            e = gend[g]
            u0 = cj * cs
            if e - s == 1 and whole[s]:
                lab = pr[s] + 1
                for u in range(u0, u0 + cs):
                    z = dv[u]
                    if z > 0.0 and z < np.inf:
                        lv[u] = lab
                continue
            mx, my, mz = cm[g, 0], cm[g, 1], cm[g, 2]
            for b in range(cs):                        # the segment's points and thresholds
                z = np.float64(dv[u0 + b])
                ok = (z > 0.0) & (z < np.inf)
                z = z if ok else 0.0
                zc = max(z, z0) - z0
                best[b] = thr_a + thr_b * zc * zc if ok else -1.0
                X[b] = rxv[u0 + b] * z
                Y[b] = ryv[u0 + b] * z
                Z[b] = z
                lbl[b] = -1
            for q in range(s, e):                      # closest plane below its threshold
                r = pr[q]
                nx, ny, nz, o = nR[r, 0], nR[r, 1], nR[r, 2], oR[r]
                for b in range(cs):
                    d = abs(nx * X[b] + ny * Y[b] + nz * Z[b] + o)
                    closer = d < best[b]
                    best[b] = d if closer else best[b]
                    lbl[b] = q if closer else lbl[b]
            for q in range(s, e):                      # sums about the cell mean
                n = sx = sy = sz = sxx = sxy = sxz = syy = syz = szz = 0.0
                for b in range(cs):
                    w = 1.0 if lbl[b] == q else 0.0
                    dx = (X[b] - mx) * w
                    dy = (Y[b] - my) * w
                    dz = (Z[b] - mz) * w
                    n += w
                    sx += dx
                    sy += dy
                    sz += dz
                    sxx += dx * dx
                    sxy += dx * dy
                    sxz += dx * dz
                    syy += dy * dy
                    syz += dy * dz
                    szz += dz * dz
                if n > 0.0:
                    acc[q, 0] += n
                    acc[q, 1] += sx
                    acc[q, 2] += sy
                    acc[q, 3] += sz
                    acc[q, 4] += sxx
                    acc[q, 5] += sxy
                    acc[q, 6] += sxz
                    acc[q, 7] += syy
                    acc[q, 8] += syz
                    acc[q, 9] += szz
            for b in range(cs):
                q = lbl[b]
                if q >= 0:
                    lv[u0 + b] = pr[q] + 1
    for g in range(G):                             # pair sums about the cell mean -> raw sums
        mx, my, mz = cm[g, 0], cm[g, 1], cm[g, 2]
        for q in range(starts[g], gend[g]):
            a = acc[q]
            n = a[0]
            if n == 0.0:
                continue
            r = pr[q]
            tot[r] += n
            SR[r, 0] += n
            SR[r, 1] += a[1] + n * mx
            SR[r, 2] += a[2] + n * my
            SR[r, 3] += a[3] + n * mz
            SR[r, 4] += a[4] + 2.0 * mx * a[1] + n * mx * mx
            SR[r, 5] += a[5] + mx * a[2] + my * a[1] + n * mx * my
            SR[r, 6] += a[6] + mx * a[3] + mz * a[1] + n * mx * mz
            SR[r, 7] += a[7] + 2.0 * my * a[2] + n * my * my
            SR[r, 8] += a[8] + my * a[3] + mz * a[2] + n * my * mz
            SR[r, 9] += a[9] + 2.0 * mz * a[3] + n * mz * mz


@jit
def fit_planes(S, ref):
    """:func:`arkit.planes.plane_fit.fit_planes_from_moments` for many small point sets.

    S (N, 10) float64 moment sums; ref (N, 3) reference normals, or (0, 3) to orient the
    normals towards the origin. The same closed form as ``plane_fit._eigh_smallest6``
    (trigonometric eigenvalues, eigenvector from the longest cross product of two rows of
    ``C - lambda_min I``), one matrix at a time. Returns normal (N, 3), offset (N,),
    mean (N, 3), ascending eigenvalues (N, 3)."""
    N = S.shape[0]
    nrm = np.empty((N, 3))
    off = np.empty(N)
    mu = np.empty((N, 3))
    w = np.empty((N, 3))
    for k in range(N):
        n = max(S[k, 0], 1e-12)
        mx, my, mz = S[k, 1] / n, S[k, 2] / n, S[k, 3] / n
        xx = S[k, 4] / n - mx * mx
        d = S[k, 5] / n - mx * my
        e = S[k, 6] / n - mx * mz
        yy = S[k, 7] / n - my * my
        f = S[k, 8] / n - my * mz
        zz = S[k, 9] / n - mz * mz
        q = (xx + yy + zz) / 3.0
        a, b, c = xx - q, yy - q, zz - q
        p = np.sqrt((a * a + b * b + c * c + 2.0 * (d * d + e * e + f * f)) / 6.0)
        ps = p if p > 0.0 else 1.0
        r = 0.5 * (a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)) / (ps * ps * ps)
        phi = np.arccos(min(max(r, -1.0), 1.0)) / 3.0
        l_max = q + 2.0 * p * np.cos(phi)
        l_min = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
        w[k, 0] = l_min
        w[k, 1] = 3.0 * q - l_max - l_min
        w[k, 2] = l_max
        sh = q - l_min
        a_, b_, c_ = a + sh, b + sh, c + sh
        # rows of C - l_min I: (a_, d, e), (d, b_, f), (e, f, c_); v is orthogonal to all three
        vx, vy, vz = d * f - e * b_, e * d - a_ * f, a_ * b_ - d * d
        best = vx * vx + vy * vy + vz * vz
        tx, ty, tz = d * c_ - e * f, e * e - a_ * c_, a_ * f - d * e
        t = tx * tx + ty * ty + tz * tz
        if t > best:
            vx, vy, vz, best = tx, ty, tz, t
        tx, ty, tz = b_ * c_ - f * f, f * e - d * c_, d * f - b_ * e
        t = tx * tx + ty * ty + tz * tz
        if t > best:
            vx, vy, vz, best = tx, ty, tz, t
        nv = np.sqrt(best)
        if nv < 1e-300:
            vx, vy, vz = 0.0, 0.0, 1.0
        else:
            vx, vy, vz = vx / nv, vy / nv, vz / nv
        if ref.shape[0] > 0:
            flip = vx * ref[k, 0] + vy * ref[k, 1] + vz * ref[k, 2] < 0.0
        else:
            flip = vx * mx + vy * my + vz * mz > 0.0       # towards the origin (the camera)
        if flip:
            vx, vy, vz = -vx, -vy, -vz
        nrm[k, 0], nrm[k, 1], nrm[k, 2] = vx, vy, vz
        mu[k, 0], mu[k, 1], mu[k, 2] = mx, my, mz
        off[k] = -(vx * mx + vy * my + vz * mz)
    return nrm, off, mu, w


@jit
def mse_to_planes(S, nrm, off):
    """Mean squared distance (N,) of point sets with moment sums S (N, 10) to planes (N, 3), (N,)."""
    N = S.shape[0]
    out = np.empty(N)
    for k in range(N):
        n = max(S[k, 0], 1e-12)
        mx, my, mz = S[k, 1] / n, S[k, 2] / n, S[k, 3] / n
        x, y, z = nrm[k, 0], nrm[k, 1], nrm[k, 2]
        quad = (x * x * (S[k, 4] / n - mx * mx) + y * y * (S[k, 7] / n - my * my)
                + z * z * (S[k, 9] / n - mz * mz)
                + 2.0 * (x * y * (S[k, 5] / n - mx * my) + x * z * (S[k, 6] / n - mx * mz)
                         + y * z * (S[k, 8] / n - my * mz)))
        dist = x * mx + y * my + z * mz + off[k]
        out[k] = quad + dist * dist
    return out


@jit
def edge_merge_ok(ea, eb, planar, normal, S, e2, cos_merge, f2):
    """(E,) bool: cells ea[i] and eb[i] are both planar, their normals agree within the merge
    angle and the union of their points fits the count-weighted mean normal's plane within
    ``f2`` times their expected noise (the first test of region growing)."""
    E = ea.shape[0]
    out = np.zeros(E, np.bool_)
    for i in range(E):
        a, b = ea[i], eb[i]
        if not (planar[a] and planar[b]):
            continue
        if normal[a, 0] * normal[b, 0] + normal[a, 1] * normal[b, 1] + normal[a, 2] * normal[b, 2] <= cos_merge:
            continue
        na, nb = S[a, 0], S[b, 0]
        x = normal[a, 0] * na + normal[b, 0] * nb
        y = normal[a, 1] * na + normal[b, 1] * nb
        z = normal[a, 2] * na + normal[b, 2] * nb
        ln = np.sqrt(x * x + y * y + z * z)
        x, y, z = x / ln, y / ln, z / ln
        n = na + nb
        mx, my, mz = (S[a, 1] + S[b, 1]) / n, (S[a, 2] + S[b, 2]) / n, (S[a, 3] + S[b, 3]) / n
        mse = (x * x * ((S[a, 4] + S[b, 4]) / n - mx * mx) + y * y * ((S[a, 7] + S[b, 7]) / n - my * my)
               + z * z * ((S[a, 9] + S[b, 9]) / n - mz * mz)
               + 2.0 * (x * y * ((S[a, 5] + S[b, 5]) / n - mx * my) + x * z * ((S[a, 6] + S[b, 6]) / n - mx * mz)
                        + y * z * ((S[a, 8] + S[b, 8]) / n - my * mz)))
        out[i] = mse < f2 * (e2[a] * na + e2[b] * nb) / n
    return out


@jit
def region_sums(S, reg, R):
    """Sum the rows of S (M, 10) by region label reg (M,) in [0, R) into (R, 10)."""
    out = np.zeros((R, S.shape[1]))
    for i in range(reg.shape[0]):
        for k in range(S.shape[1]):
            out[reg[i], k] += S[i, k]
    return out


@jit
def _pair_score(Si, Sj, ni, nj, f2):
    """max over both sides of (MSE to the plane of their union) / (f2 * own noise)."""
    U = (Si + Sj).reshape(1, 10)
    nu, ou, _, _ = fit_planes(U, np.zeros((0, 3)))
    si = mse_to_planes(Si.reshape(1, 10), nu, ou)[0] / (f2 * ni / Si[0])
    sj = mse_to_planes(Sj.reshape(1, 10), nu, ou)[0] / (f2 * nj / Sj[0])
    return max(si, sj)


@jit
def merge_regions(reg, Hc, Wc, SR, nR, noise, cos_merge, f2):
    """:func:`arkit.planes.cell_regions.merge_coplanar_regions` (same candidates, scores and
    greedy order): regions within two cells of each other whose union is a plane merge.
    reg (Ncell,) int64 labels (-1: none), SR (R, 10), nR (R, 3), noise (R,). Returns new labels."""
    R = SR.shape[0]
    if R < 2:
        return reg.copy()
    cand = np.zeros((R, R), np.bool_)
    for y in range(Hc):
        for x in range(Wc):
            a = reg[y * Wc + x]
            if a < 0:
                continue
            for dy in range(3):                    # the 12 forward offsets of a 5x5 window
                for dx in range(-2, 3):
                    if dy == 0 and dx <= 0:
                        continue
                    yy, xx = y + dy, x + dx
                    if yy >= Hc or xx < 0 or xx >= Wc:
                        continue
                    b = reg[yy * Wc + xx]
                    if b >= 0 and b != a:
                        cand[min(a, b), max(a, b)] = True
    pi = np.empty(R * R, np.int64)
    pj = np.empty(R * R, np.int64)
    m = 0
    for i in range(R):
        for j in range(i + 1, R):
            if cand[i, j] and nR[i, 0] * nR[j, 0] + nR[i, 1] * nR[j, 1] + nR[i, 2] * nR[j, 2] > cos_merge:
                pi[m] = i
                pj[m] = j
                m += 1
    if m == 0:
        return reg.copy()
    score = np.empty(m)
    for k in range(m):
        score[k] = _pair_score(SR[pi[k]], SR[pj[k]], noise[pi[k]], noise[pj[k]], f2)
    parent = np.arange(R)
    sums = SR.copy()
    nz = noise.copy()
    grown = np.zeros(R, np.bool_)                  # roots whose sums changed since `score`
    for k in np.argsort(score):
        if score[k] >= 1.0:
            break
        ri = pi[k]
        while parent[ri] != ri:
            parent[ri] = parent[parent[ri]]
            ri = parent[ri]
        rj = pj[k]
        while parent[rj] != rj:
            parent[rj] = parent[parent[rj]]
            rj = parent[rj]
        if ri == rj:
            continue
        if (grown[ri] or grown[rj]) and _pair_score(sums[ri], sums[rj], nz[ri], nz[rj], f2) >= 1.0:
            continue
        grown[ri] = True
        parent[rj] = ri
        for c in range(10):
            sums[ri, c] += sums[rj, c]
        nz[ri] += nz[rj]
    rank = np.full(R, -1, np.int64)
    for r in range(R):                             # dense labels in the order of the roots
        x = r
        while parent[x] != x:
            x = parent[x]
        rank[x] = 0
    nxt = 0
    for r in range(R):
        if rank[r] == 0:
            rank[r] = nxt
            nxt += 1
    out = np.empty_like(reg)
    for c in range(reg.shape[0]):
        r = reg[c]
        if r < 0:
            out[c] = -1
        else:
            while parent[r] != r:
                r = parent[r]
            out[c] = rank[r]
    return out
