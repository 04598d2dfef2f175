"""Render a synthetic RGB-D sequence with exact ground truth into the TUM RGB-D layout.

Seeds: the recipe's ``seed`` fixes the scene (textures); the ``seed`` argument fixes the camera
path and the exposure changes, so the same room can be filmed along different paths. The same
arguments always give byte-identical files.

>>> from arkit.synthetic import generate_sequence                          # doctest: +SKIP
>>> generate_sequence("marker_room", "/tmp/marker_room", num_frames=300)   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError, InputFileError
from arkit.synthetic.scene_spec import SceneSpec

log = logging.getLogger(__name__)

#: Direction the scene's light travels in world coordinates (down, slightly slanted).
LIGHT_DIR_WORLD = np.array([0.35, -1.0, 0.25])
#: Bump when the generator's output changes for the same recipe (invalidates cached sequences).
GENERATOR_VERSION = 1


def scene_digest(spec: SceneSpec) -> str:
    """SHA-1 of the scene description (changes when a recipe is edited; used by the cache)."""
    import hashlib

    d = spec.to_dict()
    d.pop("source", None)
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode("utf-8")).hexdigest()


def resolve_spec(spec_or_recipe) -> SceneSpec:
    """A :class:`SceneSpec` from a spec, a recipe name, a recipe path or a recipe dict."""
    if isinstance(spec_or_recipe, SceneSpec):
        return spec_or_recipe
    from arkit.synthetic.recipes import load_recipe

    return load_recipe(spec_or_recipe)


class ExposureModel:
    """Smooth per-frame gain and gamma changes (auto-exposure drift), seeded.

    ``jitter`` is the standard deviation of ``log(gain)``; gamma varies by ``0.3 * jitter``."""

    def __init__(self, jitter: float, seed: int):
        from arkit.synthetic.camera_paths import SmoothNoise

        rng = np.random.default_rng(seed + 7919)
        self.jitter = float(jitter)
        self.gain = SmoothNoise(rng, 1, self.jitter, (0.05, 0.5))
        self.gamma = SmoothNoise(rng, 1, 0.3 * self.jitter, (0.05, 0.3))

    def apply(self, rgb_f32: np.ndarray, t_s: float) -> np.ndarray:
        """Float RGB in [0, 255] -> uint8 with this frame's gain and gamma."""
        if self.jitter <= 0:
            return np.clip(rgb_f32 + 0.5, 0, 255).astype(np.uint8)
        g = float(np.exp(self.gain([t_s])[0, 0]))
        gamma = float(np.exp(self.gamma([t_s])[0, 0]))
        x = np.clip(rgb_f32 / 255.0 * g, 0.0, 1.0) ** gamma
        return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


class _BackgroundWriter:
    """PNG encoding on two threads (cv2 releases the GIL) overlapping the rendering."""

    def __init__(self, compression: int, max_pending: int = 8):
        from concurrent.futures import ThreadPoolExecutor

        self.compression = int(compression)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="arkit-synth-png")
        self.pending: list = []
        self.max_pending = max_pending

    def submit(self, path, image) -> None:
        from arkit.synthetic.tum_layout import write_png

        self.pending.append(self.pool.submit(write_png, path, image, self.compression))
        while len(self.pending) > self.max_pending:
            self.pending.pop(0).result()

    def finish(self) -> None:
        while self.pending:
            self.pending.pop(0).result()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def generate_sequence(spec_or_recipe: Union[SceneSpec, str, os.PathLike, dict], out_dir, *, num_frames: int,
                      width: int = 640, height: int = 480, hfov_deg: float = 60.0, seed: int = 0,
                      backend: str = "auto", motion_blur: int = 0, exposure_jitter: float = 0.0,
                      shutter: float = 0.5, overwrite: bool = False, plane_ids: bool = False,
                      png_compression: int = 1, texture_px_per_m: Optional[float] = None,
                      antialias: bool = False, noise_std: float = 0.0,
                      progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Render a sequence and write it in the TUM RGB-D layout (see :mod:`arkit.synthetic.tum_layout`).

    Parameters
    ----------
    spec_or_recipe : SceneSpec, str, PathLike or dict
        A scene, a recipe name (``"marker_room"``), a recipe YAML path or a recipe mapping.
    out_dir : str or Path
        Destination folder. It is written as ``.<name>.partial-<pid>`` next to it and renamed
        when complete (a ``DONE`` file is the last thing written), so a folder named
        ``out_dir`` is always a finished sequence.
    num_frames : int
        Number of frames at the path's frame rate (30 Hz by default).
    width, height : int
        Image size in pixels.
    hfov_deg : float
        Horizontal field of view of the ideal pinhole camera (principal point at the centre).
    seed : int
        Seed of the camera path and the exposure changes.
    backend : {"auto", "gl", "software"}
        Renderer backend (:func:`arkit.render.create_renderer`).
    motion_blur : int
        Sub-frames averaged per frame (0 or 1 = none). Sub-frame times are spread over
        ``shutter / fps`` seconds centred on the frame time; depth and ground truth are at the
        frame time.
    exposure_jitter : float
        Standard deviation of the log gain of smooth per-frame exposure changes (0 = none).
    shutter : float
        Fraction of the frame period the shutter is open (motion blur only).
    overwrite : bool
        Replace an existing ``out_dir``; otherwise an existing one raises.
    plane_ids : bool
        Also write ``planes/<t>.png`` (uint16 surface index + 1 from an analytic ray cast,
        0 = nothing; indices refer to ``scene.json["surfaces"]``).
    png_compression : int
        zlib level for PNG files (0-9; 1 is fast).
    texture_px_per_m : float, optional
        Override the recipe's texture resolution (lower is faster to build, e.g. 128 in tests).
    noise_std : float
        Standard deviation of additive Gaussian sensor noise in 8-bit grey levels (0 = none),
        seeded per frame.
    antialias : bool
        Draw colour with 4x multisampling (smoother polygon edges; a second, single-sample
        render still provides the depth, because a multisampled depth buffer resolves to an
        off-centre sample and biases depth by ~0.2 %). Textures are mipmapped either way.
    progress : callable, optional
        ``progress(frames_done, num_frames)`` after each frame.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    InputFileError
        If ``out_dir`` exists and ``overwrite`` is False.
    ArkitError
        For bad sizes or frame counts; :class:`SceneFileError` for a bad recipe.
    """
    import yaml

    from arkit.render import create_renderer
    from arkit.synthetic import tum_layout as tum
    from arkit.synthetic.camera_paths import make_camera_path
    from arkit.synthetic.scene_meshes import build_draw_items, image_target_textures

    num_frames = int(num_frames)
    if num_frames < 1:
        raise ArkitError(f"num_frames must be at least 1, got {num_frames}")
    if not (16 <= int(width) <= 8192 and 16 <= int(height) <= 8192):
        raise ArkitError(f"image size must be between 16 and 8192 pixels per side, got {width}x{height}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise InputFileError(f"{out_dir} already exists; choose another folder or pass overwrite=True (--overwrite)")
    spec = resolve_spec(spec_or_recipe)
    if int(seed) < 0:
        raise ArkitError(f"seed must be a non-negative integer, got {seed}")
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ArkitError(f"noise_std must be a non-negative number of grey levels, got {noise_std}")
    if texture_px_per_m is not None:
        if not float(texture_px_per_m) > 0:
            raise ArkitError(f"texture_px_per_m must be positive, got {texture_px_per_m}")
        spec = dataclasses.replace(spec, px_per_m=float(texture_px_per_m))
    K = Intrinsics.from_fov(int(width), int(height), hfov_deg, warn=False)
    fps = float(spec.camera.get("fps", 30.0))
    path = make_camera_path(spec.camera, duration_s=num_frames / fps, seed=seed)
    timestamps, poses = path.frames(num_frames)
    for problem in spec.clearance_violations(poses[:, :3, 3]):
        log.warning("recipe %s, seed %d: %s; adjust the camera section (distance_m, elevation_deg, target)",
                    spec.name, seed, problem)
    sub = max(1, int(motion_blur))
    offsets = (np.linspace(-0.5, 0.5, sub) * shutter / fps) if sub > 1 else np.zeros(1)
    exposure = ExposureModel(exposure_jitter, seed)
    light_w = LIGHT_DIR_WORLD / np.linalg.norm(LIGHT_DIR_WORLD)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "rgb").mkdir(parents=True)
    (tmp / "depth").mkdir()
    if plane_ids:
        (tmp / "planes").mkdir()
    t_start = time.perf_counter()
    try:
        items = build_draw_items(spec)
        surfaces = spec.surfaces() if plane_ids else None
        renderer = colour_renderer = None
        writer = _BackgroundWriter(png_compression)
        try:
            renderer = create_renderer(int(width), int(height), backend=backend, samples=0)
            if antialias:
                colour_renderer = create_renderer(int(width), int(height), backend=backend, samples=4)
            backend_used = renderer.backend
            for i, t in enumerate(timestamps):
                acc = np.zeros((int(height), int(width), 3), np.float32)
                depth = None
                for dt in offsets:
                    T = poses[i] if dt == 0.0 else path.pose_at(t + dt)
                    light_c = T[:3, :3].T @ light_w
                    if colour_renderer is not None:
                        acc += colour_renderer.render(items, K, T, light_dir_camera=light_c).rgba[:, :, :3]
                        if dt == 0.0:
                            depth = renderer.render(items, K, T, light_dir_camera=light_c).depth_m
                    else:
                        out = renderer.render(items, K, T, light_dir_camera=light_c)
                        acc += out.rgba[:, :, :3]
                        if dt == 0.0:
                            depth = out.depth_m
                if depth is None:  # even number of sub-frames: depth at the frame time
                    depth = renderer.render(items, K, poses[i], light_dir_camera=poses[i][:3, :3].T @ light_w).depth_m
                img = acc / len(offsets)
                if noise_std > 0:
                    rng = np.random.default_rng((int(seed), i, 104729))
                    img += rng.normal(0.0, noise_std, img.shape).astype(np.float32)
                rgb = exposure.apply(img, float(t))
                name = tum.stamp(t) + ".png"
                writer.submit(tmp / "rgb" / name, rgb)
                writer.submit(tmp / "depth" / name, tum.encode_depth(depth))
                if plane_ids:
                    from arkit.synthetic.raycast import raycast_depth

                    _, idx = raycast_depth(surfaces, K, poses[i])
                    writer.submit(tmp / "planes" / name, (idx + 1).astype(np.uint16))
                if progress is not None:
                    progress(i + 1, num_frames)
            writer.finish()
        finally:
            writer.shutdown()
            for r in (renderer, colour_renderer):
                if r is not None:
                    r.close()
        elapsed = time.perf_counter() - t_start
        tum.write_lists(tmp, timestamps, spec.name)
        tum.write_groundtruth(tmp / "groundtruth.txt", timestamps, poses, spec.name)
        (tmp / "intrinsics.yaml").write_text(yaml.safe_dump(K.to_dict()))
        targets = image_target_textures(spec)
        if targets:
            (tmp / "targets").mkdir()
            for name, img in targets.items():
                tum.write_png(tmp / "targets" / f"{name}.png", img, png_compression)
        scene = spec.to_dict()
        scene["sequence"] = {
            "generator_version": GENERATOR_VERSION, "num_frames": num_frames, "fps": fps,
            "width": int(width), "height": int(height), "hfov_deg": float(hfov_deg), "seed": int(seed),
            "motion_blur": sub if sub > 1 else 0, "shutter": float(shutter), "exposure_jitter": float(exposure_jitter),
            "noise_std": float(noise_std), "texture_px_per_m": float(spec.px_per_m),
            "depth_scale": tum.DEPTH_SCALE, "camera_axes": "opencv", "pose_convention": "T_world_camera",
            "camera_path": {k: v for k, v in path.params.items()}, "light_dir_world": light_w.tolist(),
            "plane_ids": bool(plane_ids), "renderer_backend": backend_used, "antialias": bool(antialias),
        }
        tum.write_json(tmp / "scene.json", scene)
        done = {"num_frames": num_frames, "generator_version": GENERATOR_VERSION, "scene_sha1": scene_digest(spec)}
        (tmp / tum.DONE_FILE).write_text(json.dumps(done) + "\n")
        if out_dir.exists():
            if not overwrite:  # created by someone else while we were rendering
                raise InputFileError(f"{out_dir} appeared while the sequence was being generated; not replacing it")
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %d frames %dx%d to %s in %.1f s (%.1f frames/s, %s renderer)", num_frames, width, height,
             out_dir, elapsed, num_frames / max(elapsed, 1e-9), backend_used)
    return out_dir
