"""Named scene recipes (YAML files shipped in ``arkit/synthetic/recipes/``).

Built-in recipes: ``marker_room`` (markers on the floor and a table; the main demo),
``marker_board`` (a 5x7 ``cv2.aruco.GridBoard`` on the floor), ``textured_room`` (no markers,
for visual odometry), ``turn_away`` (marker_room with a path that leaves and comes back to a
later part of the orbit) and ``look_away`` (the marker_room layout with bare walls; the camera
turns to a wall, where nothing can be tracked, and comes back to the viewpoint it left: the
relocalisation benchmark).
``datasets/*.yaml`` in the source tree are copies of these for browsing and editing.

>>> "marker_room" in list_recipes()
True
>>> load_recipe("marker_board").boards[0].markers_x
5
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from arkit.core.errors import SceneFileError
from arkit.synthetic.scene_spec import SceneSpec

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"


def list_recipes() -> list:
    """Names of the built-in recipes, sorted."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    """Path of a built-in recipe file; raises :class:`SceneFileError` listing the known names."""
    p = RECIPE_DIR / f"{name}.yaml"
    if not p.is_file():
        raise SceneFileError(str(name), f"no built-in recipe named {name!r} and no such file; "
                                        f"built-in recipes: {', '.join(list_recipes())}")
    return p


def read_recipe_dict(path) -> dict:
    """Load a recipe YAML file as a mapping (errors name the file and line)."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SceneFileError(str(p), f"cannot read the recipe: {e.strerror or e}") from None
    try:
        d = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SceneFileError(str(p), f"invalid YAML: {getattr(e, 'problem', e)}", line=line) from None
    if not isinstance(d, dict):
        raise SceneFileError(str(p), "a recipe must be a YAML mapping (name:, room:, markers:, camera:, ...)")
    return d


def load_recipe(name_or_path: Union[str, os.PathLike, dict]) -> SceneSpec:
    """A :class:`SceneSpec` from a built-in recipe name, a recipe file path or a recipe mapping.

    Parameters
    ----------
    name_or_path : str, PathLike or dict
        ``"marker_room"``, ``"path/to/recipe.yaml"`` or an already-loaded mapping.

    Raises
    ------
    SceneFileError
        Unknown name, unreadable file, or a malformed recipe (the message names the key).
    """
    from arkit.synthetic.recipe_parse import scene_from_dict

    if isinstance(name_or_path, dict):
        return scene_from_dict(name_or_path, "<recipe dict>")
    s = str(name_or_path)
    p = Path(s)
    if not p.suffix and not p.exists():
        p = recipe_path(s)
    elif not p.is_file():
        raise SceneFileError(s, f"recipe file not found; built-in recipes: {', '.join(list_recipes())}")
    return scene_from_dict(read_recipe_dict(p), p)
