"""Compiled (numba) kernels of :mod:`arkit.planes.depth_extractor`.

- Per-pixel stages (cell moment sums; pixel-level plane assignment with the refit sums): as
  numpy expressions they cost some 40 passes over a 640x480 array plus a cell-major copy; these
  kernels stream over the image once per stage, in its own layout, with float64 accumulators.
- Small-batch plane algebra of region growing (closed-form plane fits, plane MSE, the
  cell-edge merge test, per-region sums, the greedy merge of coplanar regions): in numpy each
  call costs 50-300 us of per-call overhead on a few dozen rows; compiled, a few microseconds.

numba is optional: :func:`load` returns ``None`` when it is missing, fails to compile, or the
environment variable ``ARKIT_NO_NUMBA`` is set (to anything but ``""`` or ``"0"``), and the
extractor then runs its numpy implementation (:mod:`arkit.planes.depth_numpy`,
:mod:`arkit.planes.cell_regions`), which finds the same planes. The kernels themselves live in
:mod:`arkit.planes.depth_kernels_numba` (imported only here, so ``import arkit`` never loads
numba); they are compiled the first time :func:`load` runs on a machine (10-40 s, once) and
cached on disk next to the module (``cache=True``), so later processes load them in 1-3 s.
"""

from __future__ import annotations

import logging
import os
import types

log = logging.getLogger(__name__)

_loaded = None          # None: not tried yet; False: unavailable; else a namespace of kernels


def load():
    """The compiled kernels (a namespace of the :data:`KERNELS` of :mod:`arkit.planes.depth_kernels_numba`) or ``None``."""
    global _loaded
    if os.environ.get("ARKIT_NO_NUMBA", "") not in ("", "0"):
        return None
    if _loaded is None:
        try:
            _loaded = _build()
            _warm_up(_loaded)
        except ImportError as exc:                       # numba missing: numpy path
            log.info("numba unavailable (%s); plane extraction uses its numpy path", exc)
            _loaded = False
        except Exception as exc:                         # noqa: BLE001 - a numba that cannot compile
            log.warning("numba kernels failed to compile (%s: %s); plane extraction uses its numpy path",
                        type(exc).__name__, exc)
            _loaded = False
    return _loaded or None


def _warm_up(k) -> None:
    """Compile (or load from the cache) every kernel for the argument types the extractor uses."""
    import numpy as np

    img = np.ones((4, 4), np.float32)
    S = k.cell_moments(img, img, img, 2, 2, 2)
    pc = np.arange(4, dtype=np.int64)
    pr = np.zeros(4, np.int64)
    k.assign_pixels(img, img, img, 2, 2, pc, pr, pc, np.zeros(4, bool), S, np.array([[0.0, 0.0, -1.0]]),
                    np.array([1.0]), 0.004, 0.006, 0.4, np.zeros((4, 4), np.uint8), np.zeros((1, 10)), np.zeros(1))
    nrm, off, _, _ = k.fit_planes(S, np.zeros((0, 3)))
    k.mse_to_planes(S, nrm, off)
    k.edge_merge_ok(pc, pc, np.ones(4, bool), nrm, S, off, 0.9, 4.0)
    k.region_sums(S, pr, 1)
    S2 = np.vstack([S, S])
    k.merge_regions(np.array([0, 1, -1, 1]), 2, 2, S2[:2], np.tile(nrm[:1], (2, 1)), np.ones(2), 0.9, 4.0)


def _build():
    from arkit.planes import depth_kernels_numba as m

    return types.SimpleNamespace(**{name: getattr(m, name) for name in KERNELS})


#: The kernels :func:`load` provides.
KERNELS = ('cell_moments', 'assign_pixels', 'fit_planes', 'mse_to_planes', 'edge_merge_ok', 'region_sums', 'merge_regions')
