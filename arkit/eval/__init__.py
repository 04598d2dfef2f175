"""arkit.eval: accuracy metrics.

Trajectories: :func:`ate` and :func:`rpe` (evo-compatible definitions, see
:mod:`arkit.eval.trajectory`), with :func:`associate`, :func:`umeyama_alignment` and
:func:`align_trajectory` as building blocks.
"""

from arkit.eval.trajectory import (
    ALIGN_MODES,
    AteResult,
    RpeResult,
    align_trajectory,
    associate,
    ate,
    rotation_angles_rad,
    rpe,
    rpe_pairs,
    umeyama_alignment,
)

__all__ = [
    "ALIGN_MODES",
    "AteResult",
    "RpeResult",
    "align_trajectory",
    "associate",
    "ate",
    "rotation_angles_rad",
    "rpe",
    "rpe_pairs",
    "umeyama_alignment",
]
