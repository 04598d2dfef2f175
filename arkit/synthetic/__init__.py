"""Synthetic RGB-D sequences with exact ground truth (TUM RGB-D layout).

A scene is described by :class:`~arkit.synthetic.scene_spec.SceneSpec` (a room, boxes, tables,
markers, marker boards, posters/image targets), usually loaded from a named recipe
(:func:`~arkit.synthetic.recipes.load_recipe`). :func:`~arkit.synthetic.generator.generate_sequence`
renders it along a seeded hand-held camera path (:mod:`arkit.synthetic.camera_paths`) and writes
``rgb/``, ``depth/``, ``rgb.txt``, ``depth.txt``, ``groundtruth.txt``, ``intrinsics.yaml`` and
``scene.json``.

>>> from arkit.synthetic import generate_sequence            # doctest: +SKIP
>>> generate_sequence("marker_room", "/tmp/seq", num_frames=300)   # doctest: +SKIP

Heavy modules (cv2, the renderer) are imported only by the functions that need them.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "SceneSpec": "arkit.synthetic.scene_spec",
    "Surface": "arkit.synthetic.scene_spec",
    "MarkerSpec": "arkit.synthetic.scene_spec",
    "load_recipe": "arkit.synthetic.recipes",
    "list_recipes": "arkit.synthetic.recipes",
    "generate_sequence": "arkit.synthetic.generator",
    "ensure_builtin_sequence": "arkit.synthetic.cache",
    "CameraPath": "arkit.synthetic.camera_paths",
    "make_camera_path": "arkit.synthetic.camera_paths",
    "read_sequence_truth": "arkit.synthetic.truth",
    "SequenceTruth": "arkit.synthetic.truth",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'arkit.synthetic' has no attribute {name!r}")
