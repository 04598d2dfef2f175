"""Read the ground truth of a generated sequence back (for tests, benchmarks and evaluation).

>>> from arkit.synthetic.truth import read_sequence_truth        # doctest: +SKIP
>>> gt = read_sequence_truth(ensure_builtin_sequence("marker_room"))   # doctest: +SKIP
>>> gt.T_world_camera.shape, gt.markers[0]["T_world_marker"].shape     # doctest: +SKIP
((300, 4, 4), (4, 4))
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError


@dataclass(frozen=True)
class SequenceTruth:
    """Everything known exactly about a synthetic sequence.

    Attributes
    ----------
    folder : Path
    intrinsics : Intrinsics
    timestamps_s : (N,) float64
    T_world_camera : (N, 4, 4) float64
        Camera-to-world, OpenCV camera axes, world +Y up.
    rgb_paths, depth_paths : list of Path
        One per frame, in order.
    scene : dict
        The parsed ``scene.json``.
    markers : list of dict
        ``scene["markers"]`` with ``T_world_marker`` (4, 4) and ``corners_world`` (4, 3) as arrays.
    """

    folder: Path
    intrinsics: Intrinsics
    timestamps_s: np.ndarray
    T_world_camera: np.ndarray
    rgb_paths: list
    depth_paths: list
    scene: dict = field(repr=False)
    markers: list = field(repr=False)

    def marker(self, marker_id: int, dictionary: str | None = None) -> dict:
        """The marker record with this id (and dictionary, when given)."""
        for m in self.markers:
            if m["id"] == int(marker_id) and (dictionary is None or m["dictionary"] == dictionary):
                return m
        raise KeyError(f"no marker {marker_id} in {self.folder / 'scene.json'}")


def read_sequence_truth(folder) -> SequenceTruth:
    """Load ``intrinsics.yaml``, ``groundtruth.txt``, the file lists and ``scene.json`` of a sequence.

    Raises
    ------
    InputFileError
        When the folder is not a finished synthetic sequence.
    """
    import yaml

    from arkit.synthetic.tum_layout import DONE_FILE, read_groundtruth

    d = Path(folder)
    if not (d / DONE_FILE).is_file():
        raise InputFileError(f"{d} is not a finished synthetic sequence (no {DONE_FILE} file); generate it with "
                             f"arkit synth RECIPE {d}")
    K = Intrinsics.from_dict(yaml.safe_load((d / "intrinsics.yaml").read_text()))
    t, T = read_groundtruth(d / "groundtruth.txt")

    def files(name):
        rows = [ln.split() for ln in (d / name).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        return [d / r[1] for r in rows]

    scene = json.loads((d / "scene.json").read_text())
    markers = []
    for m in scene.get("markers", []):
        m = dict(m)
        m["T_world_marker"] = np.asarray(m["T_world_marker"], dtype=np.float64)
        m["corners_world"] = np.asarray(m["corners_world"], dtype=np.float64)
        markers.append(m)
    return SequenceTruth(d, K, t, T, files("rgb.txt"), files("depth.txt"), scene, markers)
