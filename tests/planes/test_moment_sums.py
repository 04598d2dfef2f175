"""Per-cell moment sums of the depth extractor against float64 sums of the same points."""

import numpy as np

from arkit.planes.depth_extractor import _moment_sums
from arkit.planes.plane_fit import fit_planes_from_moments, moments_of_points


def _cells(seed=0, N=40, cs2=400):
    rng = np.random.default_rng(seed)
    rx = rng.uniform(-0.6, 0.6, (N, 1)).astype(np.float32) + rng.uniform(-0.02, 0.02, (N, cs2)).astype(np.float32)
    ry = rng.uniform(-0.5, 0.5, (N, 1)).astype(np.float32) + rng.uniform(-0.02, 0.02, (N, cs2)).astype(np.float32)
    Z = (rng.uniform(0.5, 4.0, (N, 1)) + 0.1 * rx + 0.05 * ry + rng.normal(0, 0.002, (N, cs2))).astype(np.float32)
    Z[rng.random((N, cs2)) < 0.2] = 0.0                        # holes
    return rx, ry, Z, rng


def _reference(rx, ry, Z, w):
    out = []
    for i in range(len(Z)):
        m = w[i] > 0
        P = np.stack([rx[i][m], ry[i][m], np.ones(m.sum(), np.float32)], 1).astype(np.float64) * Z[i][m, None]
        out.append(moments_of_points(P))
    return np.array(out)


def test_moment_sums_match_float64_reference():
    rx, ry, Z, rng = _cells()
    S = _moment_sums(rx * Z, ry * Z, Z.copy())
    ref = _reference(rx, ry, Z, (Z > 0).astype(np.float32))
    np.testing.assert_allclose(S[:, :4], ref[:, :4], rtol=1e-5, atol=1e-4)
    n1, o1, _, l1 = fit_planes_from_moments(S)
    n0, o0, _, l0 = fit_planes_from_moments(ref)
    assert np.degrees(np.arccos(np.clip(np.abs((n1 * n0).sum(1)), 0, 1))).max() < 0.05
    np.testing.assert_allclose(o1, o0, atol=2e-5)
    np.testing.assert_allclose(np.sqrt(l1[:, 0]), np.sqrt(l0[:, 0]), rtol=0.02, atol=1e-5)


def test_weighted_shifted_moment_sums_match_reference():
    rx, ry, Z, rng = _cells(seed=1)
    w = ((Z > 0) & (rng.random(Z.shape) < 0.6)).astype(np.float32)
    plain = _moment_sums(rx * Z, ry * Z, Z, w)
    shift = plain[:, 1:4] / plain[:, :1] + rng.normal(0, 0.01, (len(Z), 3))     # near, not exact
    shifted = _moment_sums(rx * Z, ry * Z, Z, w, overwrite_xy=True, shift=shift)
    ref = _reference(rx, ry, Z, w)
    for S in (plain, shifted):
        np.testing.assert_array_equal(S[:, 0], ref[:, 0])
        n1, o1, _, l1 = fit_planes_from_moments(S)
        n0, o0, _, l0 = fit_planes_from_moments(ref)
        assert np.degrees(np.arccos(np.clip(np.abs((n1 * n0).sum(1)), 0, 1))).max() < 0.05
        np.testing.assert_allclose(o1, o0, atol=2e-5)
        np.testing.assert_allclose(np.sqrt(l1[:, 0]), np.sqrt(l0[:, 0]), rtol=0.02, atol=1e-5)
