"""Generate built-in sequences once into a cache folder and reuse them.

The cache root is ``$ARKIT_CACHE/sequences`` when ``ARKIT_CACHE`` is set, else
``~/.cache/arkit/sequences``. A sequence folder is reused only when its ``DONE`` file exists and
records the same scene (a digest of the recipe's scene description) and generator version, so
editing a recipe invalidates its cached sequences. Half-written folders
(``.<name>.partial-<pid>``) never carry the final name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from arkit.core.errors import InputFileError
from arkit.synthetic.tum_layout import DONE_FILE

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """Folder holding cached sequences."""
    env = os.environ.get("ARKIT_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "arkit"
    return base / "sequences"


def sequence_cache_dir(name: str, num_frames: int, width: int, height: int, seed: int) -> Path:
    """``<cache_root>/<name>-<frames>-<w>x<h>-<seed>``."""
    return cache_root() / f"{name}-{int(num_frames)}-{int(width)}x{int(height)}-{int(seed)}"


def is_complete(folder) -> bool:
    """True when ``folder`` holds a finished sequence (its ``DONE`` file exists)."""
    return (Path(folder) / DONE_FILE).is_file()


def is_current(folder, spec) -> bool:
    """True when ``folder`` is complete and was generated from this scene by this generator version."""
    import json

    from arkit.synthetic.generator import GENERATOR_VERSION, scene_digest

    try:
        done = json.loads((Path(folder) / DONE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(done, dict) and done.get("generator_version") == GENERATOR_VERSION
            and done.get("scene_sha1") == scene_digest(spec))


def ensure_builtin_sequence(name: str = "marker_room", num_frames: int = 300, width: int = 640, height: int = 480,
                            seed: int = 0, backend: str = "auto", progress=None) -> Path:
    """Path of a built-in recipe's sequence, generating it into the cache the first time.

    Parameters
    ----------
    name : str
        A built-in recipe (:func:`arkit.synthetic.recipes.list_recipes`).
    num_frames, width, height, seed : int
        Passed to :func:`arkit.synthetic.generator.generate_sequence`; each combination has its
        own cache folder.
    backend : str
        Renderer backend used if the sequence has to be generated.
    progress : callable, optional
        ``progress(done, total)`` while generating.

    Returns
    -------
    Path
        A folder in the TUM RGB-D layout (see :mod:`arkit.synthetic.tum_layout`).
    """
    from arkit.synthetic.generator import generate_sequence
    from arkit.synthetic.recipes import load_recipe, recipe_path

    recipe_path(name)  # unknown names fail before anything is written
    spec = load_recipe(name)
    folder = sequence_cache_dir(name, num_frames, width, height, seed)
    if is_current(folder, spec):
        log.debug("reusing cached sequence %s", folder)
        return folder
    if is_complete(folder):
        log.info("cached sequence %s is from another recipe or generator version; regenerating", folder)
    log.info("generating the %s sequence (%d frames, %dx%d) into %s", name, num_frames, width, height, folder)
    try:
        return generate_sequence(spec, folder, num_frames=num_frames, width=width, height=height, seed=seed,
                                 backend=backend, overwrite=folder.exists(), progress=progress)
    except InputFileError:
        if is_current(folder, spec):  # another process finished the same sequence first
            return folder
        raise
