"""Declarative scene files (YAML): which tracker, which default source, and what content goes on
which anchor.

Example (``samples/marker_cube/scene.yaml``)::

    name: marker_cube
    source: builtin:marker_room          # used when `arkit run` gets no --source
    tracking:
      type: markers
      dictionary: DICT_6X6_250
      marker_size_m: 0.1
    content:
      - name: cube
        anchor: marker:3                 # world | marker:<id> | <kind>:<id> | kind:<kind>
        box: [0.06, 0.06, 0.06]
        position_m: [0, 0.03, 0]
        color: [230, 60, 50]

Content on detected planes (``planes: {enabled: true}``)::

    render: {debug_planes: true}         # draw the tracked planes over the output
    content:
      - name: box
        anchor: {raycast: center, alignment: horizontal}   # or raycast: [u, v] (fractions 0..1)
        box: 0.2
        position_m: [0, 0.1, 0]
        shadow: true                     # or {radius_m: 0.15, opacity: 0.6}
      - name: sign
        anchor: {plane: wall}            # the largest plane labelled wall
        label: hello

A video on an image target (``recognition: {image_targets: targets.yaml}``)::

    content:
      - name: clip
        anchor: image:poster
        video: video.mp4                 # one video frame per session frame
        size_m: [0.3, 0.2]               # optional; default: the target's physical size
        loop: true                       # default

Faces, hands and grabbing (``recognition: {faces: {landmarks: true}, hands: true}``)::

    content:
      - name: glasses
        anchor: kind:face                # one copy on each face (detector or landmarker)
        model: glasses.glb
      - name: cube
        anchor: {raycast: pinch}         # dropped on the plane under the first pinch
        box: 0.1
        grab: pinch                      # or {gesture: pinch, radius_px: 80}: pinch it to drag it

Objects by category (optional model ``object_detector``): ``recognition: {objects: {categories:
[cup], min_score: 0.5}}`` gives ``object:cup`` trackables (``anchor: object:cup``).

Every error names the file, the line and the key (:class:`arkit.core.errors.SceneFileError`).
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from arkit.core.errors import ArkitError, SceneFileError
from arkit.scene.graph import Scene, SceneNode
from arkit.scene.yaml_lines import load_yaml_with_lines

log = logging.getLogger(__name__)

NUMBER = (int, float)

TOP_KEYS = {"name": str, "description": str, "source": str, "intrinsics": str, "tracking": dict,
            "render": dict, "planes": dict, "recognition": dict, "content": list}
PLANES_KEYS = {"enabled": bool, "every": int, "background": (bool, str)}
RECOGNITION_KEYS = {"image_targets": str, "faces": (bool, dict), "people_occlusion": bool, "hands": bool,
                    "body_pose": bool, "objects": (bool, dict)}
FACES_KEYS = {"landmarks": bool, "blendshapes": bool, "max_faces": int}
OBJECTS_KEYS = {"categories": list, "min_score": NUMBER, "max_results": int}
TRACKING_KEYS = {"type": str, "dictionary": str, "marker_size_m": NUMBER, "marker_sizes_m": dict,
                 "map": dict, "smoothing": (dict, bool), "min_markers": int, "trajectory": str,
                 "detector_params": dict,
                 "mode": str, "scale": str, "gravity": str, "marker_id": int, "recorded_up": list, "vslam": dict,
                 "name": str, "features": str, "mesh": str, "units_m": NUMBER, "up": str,
                 "image_targets": str, "image_target": str}
TRACKING_TYPES = ("markers", "recorded", "model_target", "vslam", "none")
VSLAM_KEYS = ("mode", "scale", "gravity", "marker_id", "recorded_up", "vslam", "image_targets", "image_target")
VSLAM_CHOICES = {"mode": ("auto", "rgbd", "mono"), "scale": ("marker", "depth", "recorded", "image_target"),
                 "gravity": ("imu", "floor", "recorded", "marker", "image_target", "map_floor")}
MODEL_TARGET_KEYS = ("name", "features", "mesh", "units_m", "up")
MAP_KEYS = {"board": dict, "markers": list, "single": int}
BOARD_KEYS = {"type": str, "markers_x": int, "markers_y": int, "marker_length_m": NUMBER,
              "separation_m": NUMBER, "square_length_m": NUMBER, "first_id": int, "dictionary": str}
MAP_MARKER_KEYS = {"id": int, "size_m": NUMBER, "position_m": list, "rotation_deg": list}
RENDER_KEYS = {"enabled": bool, "backend": str, "samples": int, "occlusion": bool, "ambient": NUMBER,
               "debug_planes": bool}
SHAPE_KEYS = ("box", "sphere", "axes", "label", "model", "video")
CONTENT_KEYS = {"name": str, "anchor": (str, dict), "box": (list, NUMBER), "sphere": NUMBER, "axes": NUMBER,
                "label": str, "model": str, "color": (list, str), "position_m": list, "rotation_deg": list,
                "scale": (list, NUMBER), "opacity": NUMBER, "label_height_m": NUMBER,
                "show_when_paused": bool, "children": list, "unlit": bool, "shadow": (bool, dict),
                "video": str, "size_m": list, "loop": bool, "grab": (str, dict)}
SHADOW_KEYS = {"radius_m": NUMBER, "opacity": NUMBER}
GRAB_KEYS = {"gesture": str, "radius_px": NUMBER}
GRAB_RADIUS_PX = 60.0
RAYCAST_ALIGNMENTS = ("horizontal", "vertical", "any")


@dataclass
class SceneFile:
    """A loaded scene file.

    Attributes
    ----------
    path : Path
    name : str
    source : str or None
        Default source URI (``builtin:<recipe>`` for generated data).
    intrinsics : str or None
        Intrinsics file, resolved relative to the scene file.
    tracking : dict
        Validated tracking section (``type`` and its options).
    render : dict
        Validated render section.
    recognition : dict
        Validated recognition section (``image_targets`` path resolved, ``faces``,
        ``people_occlusion``).
    scene : Scene
        The content, meshes loaded.
    """

    path: Path
    name: str
    source: Optional[str]
    intrinsics: Optional[str]
    tracking: dict
    render: dict
    scene: Scene = field(repr=False)
    recognition: dict = field(default_factory=dict)
    planes: dict = field(default_factory=dict)


class _Ctx:
    def __init__(self, path: Path, lines: dict):
        self.path = path
        self.lines = lines

    def error(self, key: str, message: str):
        line = self.lines.get(key)
        if line is None:  # fall back to the closest enclosing key that has a line
            k = key
            while k and line is None:
                k = k.rsplit(".", 1)[0] if "." in k else (k.rsplit("[", 1)[0] if "[" in k else "")
                line = self.lines.get(k)
        return SceneFileError(str(self.path), message, line=line, key=key or None)

    def check(self, d: Any, key: str, schema: dict, what: str) -> dict:
        if not isinstance(d, dict):
            raise self.error(key, f"{what} must be a mapping (key: value), got {type(d).__name__}")
        for k, v in d.items():
            sub = f"{key}.{k}" if key else str(k)
            if k not in schema:
                hint = difflib.get_close_matches(str(k), list(schema), n=1)
                did = f"; did you mean '{hint[0]}'?" if hint else ""
                raise self.error(sub, f"unknown key in {what}{did} (allowed: {', '.join(sorted(schema))})")
            self.check_type(v, sub, schema[k])
        return d

    def check_type(self, v: Any, key: str, types) -> None:
        types = types if isinstance(types, tuple) else (types,)
        if isinstance(v, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(v, types)
        if not ok:
            names = " or ".join(_type_name(t) for t in _flatten(types))
            raise self.error(key, f"expected {names}, got {type(v).__name__} ({v!r})")

    def vector(self, v: Any, key: str, n: int) -> np.ndarray:
        if not (isinstance(v, list) and len(v) == n and all(isinstance(x, NUMBER) and not isinstance(x, bool) for x in v)):
            raise self.error(key, f"expected a list of {n} numbers, got {v!r}")
        return np.asarray(v, dtype=np.float64)


def _flatten(types):
    for t in types:
        if isinstance(t, tuple):
            yield from t
        else:
            yield t


def _type_name(t) -> str:
    return {str: "a string", int: "an integer", float: "a number", dict: "a mapping", list: "a list",
            bool: "true/false"}.get(t, t.__name__)


def load_scene(path) -> SceneFile:
    """Load and validate a scene file, loading every asset it names.

    Raises
    ------
    SceneFileError
        Unknown key, wrong type, missing asset, bad anchor - naming file, line and key.
    """
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    ctx = _Ctx(path, lines)
    if data is None or data == {}:
        data = {}
    ctx.check(data, "", TOP_KEYS, "the scene file")
    tracking = _parse_tracking(ctx, data.get("tracking", {"type": "none"}))
    render = ctx.check(dict(data.get("render", {})), "render", RENDER_KEYS, "render")
    if render.get("backend", "auto") not in ("auto", "gl", "software"):
        raise ctx.error("render.backend", f"unknown backend '{render['backend']}' (use auto, gl or software)")
    planes = dict(ctx.check(dict(data.get("planes", {})), "planes", PLANES_KEYS, "planes"))
    if isinstance(planes.get("background"), str) and planes["background"] not in ("process", "thread"):
        raise ctx.error("planes.background", f"must be true, false, process or thread, got {planes['background']!r}")
    recognition = dict(ctx.check(dict(data.get("recognition", {})), "recognition", RECOGNITION_KEYS, "recognition"))
    if "image_targets" in recognition:
        recognition["image_targets"] = str(_data_file(ctx, recognition["image_targets"], "recognition.image_targets"))
    _check_recognition_options(ctx, recognition)
    if "image_target" in (tracking.get("scale"), tracking.get("gravity")) and "image_targets" not in tracking:
        if "image_targets" not in recognition:
            raise ctx.error("tracking", "scale/gravity 'image_target' needs 'image_targets' (a target database "
                                        ".npz or folder) in 'tracking' or 'recognition'")
        tracking["image_targets"] = recognition["image_targets"]
    scene = Scene(str(data.get("name", path.stem)))
    items = data.get("content", [])
    for i, item in enumerate(items):
        key = f"content[{i}]"
        binding, node = _parse_content(ctx, item, key, path.parent, default_name=f"content{i}")
        try:
            scene.add(node, on=binding)
        except ValueError as e:
            raise ctx.error(key, str(e)) from None
    pinchy = [n.name for b, n in scene.bindings() if b.grab_radius_px is not None or b.raycast_uv == "pinch"]
    if pinchy and not recognition.get("hands"):
        log.warning("%s: %s use the pinch gesture but 'recognition: {hands: true}' is not set; "
                    "they react only to hand trackables from managers given to the Session", path, ", ".join(pinchy))
    intr = data.get("intrinsics")
    if intr is not None:
        intr = str(_data_file(ctx, intr, "intrinsics"))
    return SceneFile(path=path, name=scene.name, source=data.get("source"), intrinsics=intr,
                     tracking=tracking, render=render, scene=scene, recognition=recognition,
                     planes=planes)


def _parse_tracking(ctx: _Ctx, t: Any) -> dict:
    t = dict(ctx.check(t, "tracking", TRACKING_KEYS, "tracking"))
    kind = t.setdefault("type", "markers")
    if kind not in TRACKING_TYPES:
        raise ctx.error("tracking.type", f"unknown tracking type '{kind}' (use {', '.join(TRACKING_TYPES)})")
    _check_vslam(ctx, t, kind)
    if "marker_size_m" in t and not t["marker_size_m"] > 0:
        raise ctx.error("tracking.marker_size_m", "must be positive (metres)")
    sizes = {}
    for k, v in t.get("marker_sizes_m", {}).items():
        sub = f"tracking.marker_sizes_m.{k}"
        if not isinstance(k, int) or isinstance(k, bool):
            raise ctx.error(sub, "marker ids must be integers")
        ctx.check_type(v, sub, NUMBER)
        if not v > 0:
            raise ctx.error(sub, "must be positive (metres)")
        sizes[int(k)] = float(v)
    t["marker_sizes_m"] = sizes
    if "map" in t:
        m = ctx.check(t["map"], "tracking.map", MAP_KEYS, "tracking.map")
        if len(m) != 1:
            raise ctx.error("tracking.map", "give exactly one of 'board', 'markers' or 'single'")
        if "board" in m:
            b = ctx.check(m["board"], "tracking.map.board", BOARD_KEYS, "tracking.map.board")
            for req in ("markers_x", "markers_y", "marker_length_m"):
                if req not in b:
                    raise ctx.error("tracking.map.board", f"missing required key '{req}'")
            if b.setdefault("type", "grid") not in ("grid", "charuco"):
                raise ctx.error("tracking.map.board.type", "board type must be 'grid' or 'charuco'")
            need = "separation_m" if b["type"] == "grid" else "square_length_m"
            if need not in b:
                raise ctx.error("tracking.map.board", f"a {b['type']} board needs '{need}'")
            for k in ("marker_length_m", need):
                if not b[k] > 0:
                    raise ctx.error(f"tracking.map.board.{k}", "must be positive (metres)")
        if "markers" in m:
            for i, mk in enumerate(m["markers"]):
                sub = f"tracking.map.markers[{i}]"
                ctx.check(mk, sub, MAP_MARKER_KEYS, sub)
                if "id" not in mk:
                    raise ctx.error(sub, "missing required key 'id'")
                for vec in ("position_m", "rotation_deg"):
                    if vec in mk:
                        ctx.vector(mk[vec], f"{sub}.{vec}", 3)
    if kind == "recorded" and "trajectory" in t:
        t["trajectory"] = str(_data_file(ctx, t["trajectory"], "tracking.trajectory"))
    if kind == "model_target":
        for req in ("features", "mesh"):
            if req not in t:
                raise ctx.error("tracking", f"tracking type 'model_target' needs '{req}'")
            t[req] = str(_data_file(ctx, t[req], f"tracking.{req}"))
    elif any(k in t for k in MODEL_TARGET_KEYS):
        k = next(k for k in MODEL_TARGET_KEYS if k in t)
        raise ctx.error(f"tracking.{k}", f"'{k}' belongs to tracking type 'model_target', not '{kind}'")
    return t


def _check_vslam(ctx: _Ctx, t: dict, kind: str) -> None:
    """``type: vslam`` options: ``mode``, ``scale``, ``gravity`` (see ``docs/tracking.md``)."""
    if kind != "vslam":
        if any(k in t for k in VSLAM_KEYS):
            k = next(k for k in VSLAM_KEYS if k in t)
            raise ctx.error(f"tracking.{k}", f"'{k}' belongs to tracking type 'vslam', not '{kind}'")
        return
    for k, choices in VSLAM_CHOICES.items():
        if k in t and t[k] not in choices:
            raise ctx.error(f"tracking.{k}", f"unknown {k} '{t[k]}' (use {', '.join(choices)})")
    if "marker" in (t.get("scale"), t.get("gravity")) and not t.get("marker_size_m", 0) > 0:
        raise ctx.error("tracking", "scale/gravity 'marker' needs 'marker_size_m' (the printed square's side, metres)")
    if "recorded_up" in t:
        t["recorded_up"] = ctx.vector(t["recorded_up"], "tracking.recorded_up", 3).tolist()
    if "image_targets" in t:   # same as recognition.image_targets: a .npz database or a folder of images
        t["image_targets"] = str(_data_file(ctx, t["image_targets"], "tracking.image_targets"))


def resolve_data_path(path: str, base_dir: Path) -> Path:
    """Resolve a path from a scene file: relative to the file, or ``shared:<path>`` inside the
    real-data folder (``../shared/data`` or ``$ARKIT_SHARED_DATA``).

    Raises
    ------
    InputFileError
        For ``shared:`` paths when the real-data folder or the file is absent.
    """
    from arkit.core.errors import InputFileError

    if path.startswith("shared:"):
        from arkit.io.shared_data import shared_data_dir

        root = shared_data_dir()
        if root is None:
            raise InputFileError(f"{path}: the real-data folder is not present (set ARKIT_SHARED_DATA)")
        p = root / path[len("shared:"):]
        if not p.exists():
            raise InputFileError(f"{path}: {p} does not exist")
        return p
    p = Path(path)
    return p if p.is_absolute() else (base_dir / p).resolve()


def _data_file(ctx: _Ctx, path: str, key: str) -> Path:
    from arkit.core.errors import InputFileError

    try:
        p = resolve_data_path(path, ctx.path.parent)
    except InputFileError as e:
        raise ctx.error(key, str(e)) from None
    if not p.exists():
        raise ctx.error(key, f"file not found: {p}")
    return p


def parse_color(ctx: _Ctx, v: Any, key: str) -> np.ndarray:
    """Colour as RGBA float in [0, 1] from ``[r, g, b(, a)]`` 0-255 or ``"#rrggbb(aa)"``."""
    if isinstance(v, str):
        s = v.lstrip("#")
        if len(s) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in s):
            raise ctx.error(key, f"colour must be '#rrggbb' or '#rrggbbaa', got {v!r}")
        vals = [int(s[i:i + 2], 16) for i in range(0, len(s), 2)]
    else:
        if not (isinstance(v, list) and len(v) in (3, 4) and all(isinstance(x, NUMBER) for x in v)):
            raise ctx.error(key, f"colour must be [r, g, b] or [r, g, b, a] with 0-255 values, got {v!r}")
        vals = list(v)
        if any(x < 0 or x > 255 for x in vals):
            raise ctx.error(key, "colour values must be between 0 and 255")
    if len(vals) == 3:
        vals.append(255)
    return np.asarray(vals, dtype=np.float32) / 255.0


def _parse_anchor(ctx: _Ctx, a: Any, key: str):
    from arkit.scene.anchors import AnchorBinding

    if a is None or a == "world":
        return AnchorBinding.world()
    if isinstance(a, dict):
        allowed = {"marker": int, "trackable": str, "kind": str, "plane": str, "position_m": list, "rotation_deg": list,
                   "raycast": (str, list), "alignment": str}
        ctx.check(a, key, allowed, "anchor")
        if "raycast" in a or "alignment" in a:
            return _parse_raycast_anchor(ctx, a, key)
        if "plane" in a:
            labels = ("floor", "wall", "table", "ceiling", "seat")
            if a["plane"] not in labels:
                raise ctx.error(f"{key}.plane", f"unknown plane label '{a['plane']}' (use {', '.join(labels)})")
            return AnchorBinding(kind="plane", label=a["plane"])
        if "marker" in a:
            return f"marker:{a['marker']}"
        if "trackable" in a:
            return a["trackable"]
        if "kind" in a:
            return f"kind:{a['kind']}"
        T = _local_transform(ctx, a, key, scale_allowed=False)
        return AnchorBinding.world(T)
    if isinstance(a, str) and ":" in a and all(a.split(":", 1)):
        return a
    raise ctx.error(key, f"anchor must be 'world', '<kind>:<id>' (e.g. 'marker:3'), 'kind:<kind>' or a mapping; got {a!r}")


def _parse_raycast_anchor(ctx: _Ctx, a: dict, key: str):
    """``{raycast: center | [u, v], alignment: horizontal | vertical | any}``; ``u, v`` are fractions
    of the image width and height (0..1)."""
    from arkit.scene.anchors import AnchorBinding

    if "raycast" not in a:
        raise ctx.error(f"{key}.alignment", "'alignment' belongs to a raycast anchor; add 'raycast: center' or 'raycast: [u, v]'")
    other = [k for k in a if k not in ("raycast", "alignment")]
    if other:
        raise ctx.error(f"{key}.{other[0]}", f"a raycast anchor takes only 'raycast' and 'alignment', not '{other[0]}'")
    r = a["raycast"]
    if r == "center":
        uv = (0.5, 0.5)
    elif r == "pinch":
        uv = "pinch"  # placed under the first hand that starts pinching (recognition: {hands: true})
    elif isinstance(r, list):
        uv = tuple(ctx.vector(r, f"{key}.raycast", 2))
        if not all(0.0 <= x <= 1.0 for x in uv):
            raise ctx.error(f"{key}.raycast", f"raycast [u, v] are fractions of the image width and height (0..1), got {r!r}")
    else:
        raise ctx.error(f"{key}.raycast", f"raycast must be 'center', 'pinch' or [u, v] (fractions of the image size, 0..1), got {r!r}")
    alignment = a.get("alignment", "any")
    if alignment not in RAYCAST_ALIGNMENTS:
        raise ctx.error(f"{key}.alignment", f"unknown alignment '{alignment}' (use {', '.join(RAYCAST_ALIGNMENTS)})")
    return AnchorBinding(raycast_uv=uv, alignment=alignment)


def _check_recognition_options(ctx: _Ctx, rec: dict) -> None:
    """``faces: {landmarks, blendshapes, max_faces}`` and ``objects: {categories, min_score, max_results}``."""
    if isinstance(rec.get("faces"), dict):
        f = ctx.check(rec["faces"], "recognition.faces", FACES_KEYS, "recognition.faces")
        extra = [k for k in ("blendshapes", "max_faces") if k in f]
        if extra and not f.get("landmarks", False):
            raise ctx.error(f"recognition.faces.{extra[0]}", f"'{extra[0]}' needs the face landmarker: add 'landmarks: true'")
        if "max_faces" in f and f["max_faces"] < 1:
            raise ctx.error("recognition.faces.max_faces", f"must be at least 1, got {f['max_faces']}")
    if isinstance(rec.get("objects"), dict):
        o = ctx.check(rec["objects"], "recognition.objects", OBJECTS_KEYS, "recognition.objects")
        if not all(isinstance(c, str) and c for c in o.get("categories", [])):
            raise ctx.error("recognition.objects.categories", "categories must be a list of names such as [cup, bottle]")
        if "min_score" in o and not 0 <= o["min_score"] <= 1:
            raise ctx.error("recognition.objects.min_score", f"must be between 0 and 1, got {o['min_score']!r}")
        if "max_results" in o and o["max_results"] < 1:
            raise ctx.error("recognition.objects.max_results", f"must be at least 1, got {o['max_results']}")


def _parse_grab(ctx: _Ctx, v: Any, key: str) -> float:
    """``grab: pinch`` or ``grab: {gesture: pinch, radius_px: 80}``: the grab radius in pixels."""
    opts = {"gesture": v} if isinstance(v, str) else ctx.check(v, key, GRAB_KEYS, "grab")
    if opts.get("gesture", "pinch") != "pinch":
        k = key if isinstance(v, str) else f"{key}.gesture"
        raise ctx.error(k, f"unknown grab gesture {opts['gesture']!r} (use 'pinch'; needs recognition: {{hands: true}})")
    r = opts.get("radius_px", GRAB_RADIUS_PX)
    if not r > 0:
        raise ctx.error(f"{key}.radius_px", f"must be positive (pixels), got {r!r}")
    return float(r)


def _parse_shadow(ctx: _Ctx, node, v: Any, key: str) -> None:
    """``shadow: true`` or ``shadow: {radius_m, opacity}``: a soft contact shadow under the content."""
    from arkit.scene.shadows import add_contact_shadow

    if v is False:
        return
    opts = {} if v is True else ctx.check(v, key, SHADOW_KEYS, "shadow")
    if "radius_m" in opts and not opts["radius_m"] > 0:
        raise ctx.error(f"{key}.radius_m", f"must be positive (metres), got {opts['radius_m']!r}")
    if "opacity" in opts and not 0 <= opts["opacity"] <= 1:
        raise ctx.error(f"{key}.opacity", f"must be between 0 and 1, got {opts['opacity']!r}")
    try:
        add_contact_shadow(node, opts.get("radius_m"), float(opts.get("opacity", 0.6)))
    except ValueError as e:
        raise ctx.error(key, str(e)) from None


def _parse_video(ctx: _Ctx, item: dict, key: str, base_dir: Path, name: str, T: np.ndarray):
    """``video: PATH`` (optional ``size_m: [w, h]``, ``loop: true``): a :class:`VideoNode`."""
    from arkit.scene.video_texture import VideoNode, VideoTexture

    if "video" not in item:
        k = "size_m" if "size_m" in item else "loop"
        raise ctx.error(f"{key}.{k}", f"'{k}' belongs to 'video' content; add 'video: <file>'")
    if "scale" in item:
        raise ctx.error(f"{key}.scale", "video content is sized with 'size_m: [width, height]' (metres), not 'scale'")
    size = None
    if "size_m" in item:
        size = ctx.vector(item["size_m"], f"{key}.size_m", 2)
        if not np.all(size > 0):
            raise ctx.error(f"{key}.size_m", f"width and height must be positive (metres), got {item['size_m']!r}")
    try:
        path = resolve_data_path(item["video"], base_dir)
    except ArkitError as e:
        raise ctx.error(f"{key}.video", str(e)) from None
    if not path.is_file():
        raise ctx.error(f"{key}.video", f"video file not found: {path}")
    try:
        video = VideoTexture(path, loop=item.get("loop", True))
    except ArkitError as e:
        raise ctx.error(f"{key}.video", str(e)) from None
    return VideoNode(name, video, T, size_m=None if size is None else tuple(size),
                     opacity=float(item.get("opacity", 1.0)))


def _local_transform(ctx: _Ctx, item: dict, key: str, scale_allowed: bool = True) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    if "rotation_deg" in item:
        T[:3, :3] = Rotation.from_euler("xyz", ctx.vector(item["rotation_deg"], f"{key}.rotation_deg", 3), degrees=True).as_matrix()
    if "position_m" in item:
        T[:3, 3] = ctx.vector(item["position_m"], f"{key}.position_m", 3)
    return T


def _parse_content(ctx: _Ctx, item: Any, key: str, base_dir: Path, default_name: str):
    from arkit.scene import overlays

    ctx.check(item, key, CONTENT_KEYS, "a content entry")
    shapes = [k for k in SHAPE_KEYS if k in item]
    if len(shapes) > 1:
        raise ctx.error(f"{key}.{shapes[1]}", f"a content entry has one shape; got {', '.join(shapes)}")
    name = item.get("name", default_name)
    binding = _parse_anchor(ctx, item.get("anchor", "world"), f"{key}.anchor")
    color = parse_color(ctx, item["color"], f"{key}.color") if "color" in item else None
    scale = item.get("scale", 1.0)
    if isinstance(scale, list):
        scale = ctx.vector(scale, f"{key}.scale", 3)
    elif not scale > 0:
        raise ctx.error(f"{key}.scale", "must be positive")
    meshes = []
    try:
        if "box" in item:
            size = item["box"]
            size = [size] * 3 if isinstance(size, NUMBER) else size
            meshes = [overlays.box(ctx.vector(size, f"{key}.box", 3), color, unlit=item.get("unlit", False))]
        elif "sphere" in item:
            meshes = [overlays.sphere(float(item["sphere"]), color)]
        elif "axes" in item:
            meshes = overlays.axes(float(item["axes"]))
        elif "label" in item:
            meshes = [overlays.label(item["label"], float(item.get("label_height_m", 0.03)), color)]
        elif "model" in item:
            try:
                asset = resolve_data_path(item["model"], base_dir)
            except ArkitError as e:
                raise ctx.error(f"{key}.model", str(e)) from None
            if not asset.is_file():
                raise ctx.error(f"{key}.model", f"asset not found: {asset}")
            meshes = overlays.model(asset, color)
    except SceneFileError:
        raise
    except ArkitError as e:
        raise ctx.error(f"{key}.{shapes[0]}", str(e)) from None
    T = _local_transform(ctx, item, key)
    meshes = [overlays.scaled(m, scale) for m in meshes] if np.any(np.asarray(scale) != 1.0) else meshes
    if "video" in item or "size_m" in item or "loop" in item:
        node = _parse_video(ctx, item, key, base_dir, str(name), T)
    else:
        node = SceneNode(str(name), T, meshes, opacity=float(item.get("opacity", 1.0)))
    for j, child in enumerate(item.get("children", [])):
        _, cnode = _parse_content(ctx, child, f"{key}.children[{j}]", base_dir, f"{name}.child{j}")
        node.add_child(cnode)
    if "shadow" in item:
        if ".children[" in key:
            raise ctx.error(f"{key}.shadow", "'shadow' goes on a top-level content entry (it lies on the anchor's surface)")
        _parse_shadow(ctx, node, item["shadow"], f"{key}.shadow")
    if isinstance(binding, str) or binding is None:
        from arkit.scene.graph import _as_binding

        binding = _as_binding(binding)
    if "show_when_paused" in item:
        from dataclasses import replace

        binding = replace(binding, show_when_paused=bool(item["show_when_paused"]))
    if "grab" in item:
        if ".children[" in key:
            raise ctx.error(f"{key}.grab", "'grab' goes on a top-level content entry (the whole entry is picked up)")
        if binding.kind is not None:
            raise ctx.error(f"{key}.grab", f"content on {binding.describe} has one copy per trackable and cannot be grabbed")
        from dataclasses import replace

        binding = replace(binding, grab_radius_px=_parse_grab(ctx, item["grab"], f"{key}.grab"))
    return binding, node
