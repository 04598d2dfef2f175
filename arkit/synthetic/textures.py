"""Procedural, seeded textures for synthetic scenes (rich detail everywhere so feature trackers work).

Every generator returns an RGB ``(H, W, 3) uint8`` image whose row 0 is the top of the surface
(the surface's local -Z edge, see :mod:`arkit.synthetic.scene_spec`). Sizes are given in pixels
together with the physical size, so patterns such as tiles and bricks keep a real-world scale.

>>> img = noise_texture(64, 128, seed=1)
>>> img.shape, img.dtype
((64, 128, 3), dtype('uint8'))
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from arkit.core.errors import InputFileError, SceneFileError

#: Texture types understood by :func:`make_texture`.
TEXTURE_TYPES = ("solid", "noise", "tiles", "planks", "bricks", "poster", "checker", "image")


def _cv2():
    import cv2

    return cv2


def _rgb(color) -> np.ndarray:
    c = np.asarray(color, dtype=np.float64).reshape(3)
    if c.max() > 1.0:  # 0..255 given
        c = c / 255.0
    return np.clip(c, 0.0, 1.0)


def value_noise(h: int, w: int, rng: np.random.Generator, octaves: int = 5, base_cells: int = 4,
                channels: int = 1, max_work_px: int = 512) -> np.ndarray:
    """Multi-scale value noise in [0, 1], ``(h, w, channels)`` float32.

    Each octave doubles the grid resolution and halves the amplitude; grids are upsampled with
    bicubic interpolation (``cv2.resize``). The octaves are summed at a working resolution of
    at most ``max_work_px`` on the long side, then resized once (fine detail comes from
    speckles and grain)."""
    cv2 = _cv2()
    s = min(1.0, max_work_px / max(h, w))
    wh, ww = max(2, int(round(h * s))), max(2, int(round(w * s)))
    out = np.zeros((wh, ww, channels), np.float32)
    total = 0.0
    amp = 1.0
    aspect = w / max(h, 1)
    for i in range(octaves):
        cy = min(max(2, int(round(base_cells * 2**i))), wh)
        cx = min(max(2, int(round(base_cells * 2**i * aspect))), ww)
        grid = rng.random((cy, cx, channels), dtype=np.float32)
        out += amp * cv2.resize(grid, (ww, wh), interpolation=cv2.INTER_CUBIC).reshape(wh, ww, channels)
        total += amp
        amp *= 0.55
    sub = out[::4, ::4]
    lo, hi = float(sub.min()), float(sub.max())
    out = (out - lo) * (1.0 / max(hi - lo, 1e-6))
    if (wh, ww) != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, channels)
    return np.clip(out, 0.0, 1.0, out=out)


def _speckles(img: np.ndarray, rng: np.random.Generator, density: float, max_radius_px: int) -> None:
    """Draw small random dark/light blobs in place (corner-rich detail)."""
    cv2 = _cv2()
    h, w = img.shape[:2]
    n = int(density * h * w / 1000.0)
    xs = rng.integers(0, w, n).tolist()
    ys = rng.integers(0, h, n).tolist()
    rs = rng.integers(1, max(2, max_radius_px) + 1, n).tolist()
    base = (rng.random(n) > 0.5) * 0.6 + 0.2
    cols = np.clip((base[:, None] + rng.random((n, 3)) * 0.4) * 255, 0, 255).astype(int).tolist()
    for x, y, r, c in zip(xs, ys, rs, cols):
        cv2.circle(img, (x, y), r, c, -1, lineType=cv2.LINE_AA)


def noise_texture(h: int, w: int, seed: int = 0, color=(0.6, 0.55, 0.5), contrast: float = 0.8,
                  detail: float = 1.0) -> np.ndarray:
    """Coloured multi-scale noise with speckles, ``(h, w, 3) uint8``."""
    rng = np.random.default_rng(seed)
    base = (_rgb(color) * 255.0).astype(np.float32)
    n = value_noise(h, w, rng, octaves=6, base_cells=3, channels=1)
    tint = value_noise(h, w, rng, octaves=2, base_cells=2, channels=3)
    n *= np.float32(2.0 * contrast)
    n += np.float32(1.0 - contrast)
    tint *= np.float32(0.5)
    tint += np.float32(0.75)
    tint *= n
    tint *= base
    out = np.clip(tint, 0, 255, out=tint).astype(np.uint8)
    if detail > 0:
        _speckles(out, rng, density=0.6 * detail, max_radius_px=max(2, min(h, w) // 200))
    return out


def _add_grain(img: np.ndarray, rng: np.random.Generator, amount: float, grain_px: int = 3) -> np.ndarray:
    """Multiply ``img`` by fine random grain (blobs of about ``grain_px`` pixels)."""
    if amount <= 0:
        return img
    cv2 = _cv2()
    h, w = img.shape[:2]
    g = rng.random((max(2, h // grain_px), max(2, w // grain_px)), dtype=np.float32)
    g = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    out = img.astype(np.float32) * (1.0 - amount + 2.0 * amount * g)[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def tiles_texture(h: int, w: int, size_m=(1.0, 1.0), seed: int = 0, tile_m: float = 0.3,
                  color=(0.8, 0.78, 0.72), grout_color=(0.3, 0.3, 0.3), grout_m: float = 0.008,
                  variation: float = 0.25) -> np.ndarray:
    """Square tiles of side ``tile_m`` with grout lines and per-tile colour variation."""
    cv2 = _cv2()
    rng = np.random.default_rng(seed)
    ppm_x, ppm_y = w / size_m[0], h / size_m[1]
    nx = max(1, int(math.ceil(size_m[0] / tile_m)))
    ny = max(1, int(math.ceil(size_m[1] / tile_m)))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (_rgb(grout_color) * 255).astype(np.uint8)
    g = max(1, int(round(grout_m * ppm_x / 2)))
    base = _rgb(color)
    for j in range(ny):
        for i in range(nx):
            c = [min(1.0, max(0.0, float(v))) for v in base * (1 + variation * (rng.random(3) - 0.5) * 2)]
            x0, y0 = int(i * tile_m * ppm_x) + g, int(j * tile_m * ppm_y) + g
            x1, y1 = int((i + 1) * tile_m * ppm_x) - g, int((j + 1) * tile_m * ppm_y) - g
            cv2.rectangle(img, (x0, y0), (x1, y1), tuple(int(v * 255) for v in c), -1)
    out = _add_grain(img, rng, 0.25)
    _speckles(out, rng, density=0.3, max_radius_px=max(2, min(h, w) // 300))
    return out


def planks_texture(h: int, w: int, size_m=(1.0, 1.0), seed: int = 0, plank_m: float = 0.18,
                   length_m: float = 1.2, color=(0.62, 0.45, 0.3)) -> np.ndarray:
    """Wooden floor planks running along X with staggered joints and grain."""
    cv2 = _cv2()
    rng = np.random.default_rng(seed)
    ppm_x, ppm_y = w / size_m[0], h / size_m[1]
    base = _rgb(color)
    grain = value_noise(h, w, rng, octaves=5, base_cells=3, channels=1)[:, :, 0]
    # stretched streaks along x: low frequency across, high along rows
    streak = rng.random((max(2, h // 3), 8)).astype(np.float32)
    streak = cv2.resize(streak, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.zeros((h, w, 3), np.float32)
    rows = max(1, int(math.ceil(size_m[1] / plank_m)))
    for j in range(rows):
        y0, y1 = int(j * plank_m * ppm_y), min(h, int((j + 1) * plank_m * ppm_y))
        offset = rng.random() * length_m
        x = -offset
        while x < size_m[0]:
            x0, x1 = max(0, int(x * ppm_x)), min(w, int((x + length_m) * ppm_x))
            img[y0:y1, x0:x1] = np.minimum(base * (0.75 + 0.4 * rng.random()) * (0.93 + 0.14 * rng.random(3)), 1.0)
            x += length_m
    shade = np.float32(0.55) + np.float32(0.3) * grain + np.float32(0.3) * streak
    img *= shade[:, :, None]
    out = np.clip(img * 255, 0, 255).astype(np.uint8)
    dark = tuple(int(v * 80) for v in base)
    for j in range(rows + 1):  # joints between rows
        y = int(j * plank_m * ppm_y)
        cv2.line(out, (0, y), (w - 1, y), dark, max(1, int(0.004 * ppm_y)))
    _speckles(out, rng, density=0.3, max_radius_px=max(2, min(h, w) // 300))
    return out


def bricks_texture(h: int, w: int, size_m=(1.0, 1.0), seed: int = 0, brick_m=(0.24, 0.07),
                   color=(0.65, 0.3, 0.22), mortar_color=(0.75, 0.72, 0.68), mortar_m: float = 0.01) -> np.ndarray:
    """Running-bond brick wall; bricks ``brick_m = (length, height)`` metres."""
    cv2 = _cv2()
    rng = np.random.default_rng(seed)
    ppm_x, ppm_y = w / size_m[0], h / size_m[1]
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (_rgb(mortar_color) * 255).astype(np.uint8)
    bl, bh = brick_m
    m = max(1, int(round(mortar_m * ppm_x / 2)))
    base = _rgb(color)
    rows = int(math.ceil(size_m[1] / bh))
    for j in range(rows):
        shift = (bl / 2) * (j % 2)
        x = -shift
        while x < size_m[0]:
            c = [min(1.0, max(0.0, float(v))) for v in base * (0.7 + 0.6 * rng.random()) + 0.05 * (rng.random(3) - 0.5)]
            p0 = (int(x * ppm_x) + m, int(j * bh * ppm_y) + m)
            p1 = (int((x + bl) * ppm_x) - m, int((j + 1) * bh * ppm_y) - m)
            cv2.rectangle(img, p0, p1, tuple(int(v * 255) for v in c), -1)
            x += bl
    out = _add_grain(img, rng, 0.3)
    _speckles(out, rng, density=0.4, max_radius_px=max(2, min(h, w) // 300))
    return out


def checker_texture(h: int, w: int, size_m=(1.0, 1.0), seed: int = 0, square_m: float = 0.1,
                    color_a=(0.9, 0.9, 0.9), color_b=(0.15, 0.15, 0.15)) -> np.ndarray:
    """Checkerboard of ``square_m`` squares with a little grain."""
    rng = np.random.default_rng(seed)
    ys = (np.arange(h) + 0.5) * size_m[1] / h
    xs = (np.arange(w) + 0.5) * size_m[0] / w
    mask = ((ys[:, None] // square_m).astype(int) + (xs[None, :] // square_m).astype(int)) % 2 == 0
    img = np.where(mask[:, :, None], _rgb(color_a) * 255, _rgb(color_b) * 255).astype(np.uint8)
    return _add_grain(img, rng, 0.1)


def poster_texture(h: int, w: int, seed: int = 0, n_shapes: int = 60) -> np.ndarray:
    """A poster: a gradient background with random filled shapes, lines and letters."""
    cv2 = _cv2()
    rng = np.random.default_rng(seed)
    c0, c1 = rng.random(3), rng.random(3)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = ((c0 * (1 - t) + c1 * t) * 255).astype(np.float32) * np.ones((1, w, 1), np.float32)
    img = np.clip(img * (0.7 + 0.6 * value_noise(h, w, rng, octaves=4, base_cells=3)), 0, 255).astype(np.uint8)
    s = min(h, w)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for _ in range(n_shapes):
        kind = rng.integers(0, 5)
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(max(2, s // 40), max(3, s // 6)))
        if kind == 0:
            cv2.circle(img, (x, y), r, color, -1, lineType=cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), color, -1)
        elif kind == 2:
            pts = np.stack([rng.integers(x - r, x + r, 3), rng.integers(y - r, y + r, 3)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], color, lineType=cv2.LINE_AA)
        elif kind == 3:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x, y), (x2, y2), color, max(1, s // 150), lineType=cv2.LINE_AA)
        else:
            text = "".join(rng.choice(list(letters), int(rng.integers(2, 6))))
            cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, max(0.3, s / 400.0), color,
                        max(1, s // 200), cv2.LINE_AA)
    _speckles(img, rng, density=0.2, max_radius_px=max(2, s // 250))
    return img


def image_file_texture(path, h: int, w: int) -> np.ndarray:
    """Load an image file as an RGB texture resized to ``(h, w)``."""
    cv2 = _cv2()
    p = Path(path)
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputFileError(f"cannot read the texture image {p}; check the path in the recipe")
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_CUBIC)


def aruco_dictionary(name: str):
    """A ``cv2.aruco`` predefined dictionary by name, e.g. ``"DICT_6X6_250"``."""
    cv2 = _cv2()
    key = str(name).upper()
    if not key.startswith("DICT_"):
        key = "DICT_" + key
    code = getattr(cv2.aruco, key, None)
    if not isinstance(code, int):
        known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
        raise SceneFileError("<recipe>", f"unknown marker dictionary {name!r}; use one of {', '.join(known)}")
    return cv2.aruco.getPredefinedDictionary(code)


def marker_texture(dictionary: str, marker_id: int, module_px: int = 16, quiet_modules: float = 1.0) -> np.ndarray:
    """The marker image with a white quiet zone, RGB ``(S, S, 3) uint8``.

    The printed marker (black border included) is ``(markerSize + 2) * module_px`` pixels wide;
    the white quiet zone adds ``quiet_modules * module_px`` pixels on every side."""
    cv2 = _cv2()
    d = aruco_dictionary(dictionary)
    n_max = d.bytesList.shape[0]
    if not 0 <= int(marker_id) < n_max:
        raise SceneFileError("<recipe>", f"marker id {marker_id} is out of range for {dictionary} (0..{n_max - 1})")
    side = (d.markerSize + 2) * module_px
    img = cv2.aruco.generateImageMarker(d, int(marker_id), side, borderBits=1)
    q = int(round(quiet_modules * module_px))
    img = cv2.copyMakeBorder(img, q, q, q, q, cv2.BORDER_CONSTANT, value=255)
    return np.repeat(img[:, :, None], 3, axis=2)


def texture_size_px(width_m: float, height_m: float, px_per_m: float, max_px: int = 2048,
                    min_px: int = 16) -> tuple:
    """``(h, w)`` pixels for a surface of ``width_m x height_m``, keeping the aspect ratio."""
    w = width_m * px_per_m
    h = height_m * px_per_m
    s = min(1.0, max_px / max(w, h, 1e-9))
    return max(min_px, int(round(h * s))), max(min_px, int(round(w * s)))


def make_texture(material: dict, width_m: float, height_m: float, seed: int, px_per_m: float = 512.0,
                 max_px: int = 2048, base_dir=None) -> np.ndarray:
    """Build the texture a material describes for a ``width_m x height_m`` surface.

    Parameters
    ----------
    material : dict
        ``{"type": one of TEXTURE_TYPES, "color": [r, g, b], ...type-specific keys}``;
        ``"seed"`` overrides ``seed``; ``"px_per_m"`` overrides the resolution.
    width_m, height_m : float
        Physical size along the surface's local X and Z.
    seed : int
        Default seed (the generator derives one per surface).
    base_dir : Path, optional
        Folder relative ``image`` paths are resolved against.

    Returns
    -------
    (H, W, 3) uint8
    """
    m = dict(material or {})
    kind = m.pop("type", "noise")
    seed = int(m.pop("seed", seed))
    ppm = float(m.pop("px_per_m", px_per_m))
    h, w = texture_size_px(width_m, height_m, ppm, max_px=int(m.pop("max_px", max_px)))
    size = (width_m, height_m)
    try:
        return _dispatch(kind, m, h, w, size, seed, base_dir)
    except TypeError as e:  # an option the texture type does not take
        raise SceneFileError("<recipe>", f"bad option for texture type {kind!r}: {e}") from None


def texture_options(kind: str) -> set:
    """Keys a material of texture type ``kind`` may hold (for recipe validation)."""
    import inspect

    common = {"type", "seed", "px_per_m", "max_px"}
    fn = {"noise": noise_texture, "tiles": tiles_texture, "planks": planks_texture, "bricks": bricks_texture,
          "checker": checker_texture, "poster": poster_texture}.get(kind)
    if fn is None:
        return common | ({"color"} if kind == "solid" else {"path"} if kind == "image" else set())
    return common | (set(inspect.signature(fn).parameters) - {"h", "w", "size_m", "seed"})


def _dispatch(kind, m, h, w, size, seed, base_dir) -> np.ndarray:
    if kind == "solid":
        img = np.empty((h, w, 3), np.uint8)
        img[:] = (_rgb(m.get("color", (0.7, 0.7, 0.7))) * 255).astype(np.uint8)
        return img
    if kind == "noise":
        return noise_texture(h, w, seed, **m)
    if kind == "tiles":
        return tiles_texture(h, w, size, seed, **m)
    if kind == "planks":
        return planks_texture(h, w, size, seed, **m)
    if kind == "bricks":
        return bricks_texture(h, w, size, seed, **m)
    if kind == "checker":
        return checker_texture(h, w, size, seed, **m)
    if kind == "poster":
        return poster_texture(h, w, seed, **m)
    if kind == "image":
        path = Path(m.get("path", ""))
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        return image_file_texture(path, h, w)
    raise SceneFileError("<recipe>", f"unknown texture type {kind!r}; use one of {', '.join(TEXTURE_TYPES)}")
