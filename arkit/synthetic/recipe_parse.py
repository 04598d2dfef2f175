"""Turn a recipe (a dict loaded from YAML) into a :class:`~arkit.synthetic.scene_spec.SceneSpec`.

Recipe layout (all lengths in metres, world +Y up, floor at y = 0)::

    name: marker_room
    seed: 0
    marker_dictionary: DICT_6X6_250        # default for markers and boards
    room: {size: [5, 2.6, 5], floor: {type: planks}, walls: {type: bricks}, ceiling: {type: noise}}
    boxes:   [{name: table, kind: table, position: [0.9, 0, -0.3], yaw_deg: 0, size: [1.2, 0.74, 0.7],
               texture: {type: noise}}]
    markers: [{id: 0, size: 0.15, position: [0, 0, 0], normal: [0, 1, 0], yaw_deg: 0}]
    boards:  [{name: board, size: [5, 7], marker_length: 0.04, separation: 0.01, position: [...]}]
    image_targets: [{name: poster_a, position: [...], normal: [0, 0, 1], width: 0.6, height: 0.4,
                     texture: {type: poster}}]
    surfaces: [{name: rug, kind: rug, position: [...], size: [1, 2], texture: {type: tiles}}]
    camera:  {type: orbit, target: [0, 0, 0], distance_m: [0.5, 1.2], ...}

A pose is ``position`` (+ ``normal``, default up, and ``yaw_deg`` about it) or a 4x4 ``matrix``.
Decals (markers, boards, image targets) are lifted 1 mm along their normal unless ``lift`` is set.
"""

from __future__ import annotations

import numpy as np

from arkit.core.errors import SceneFileError
from arkit.synthetic.scene_spec import (DECAL_LIFT_M, BoardSpec, BoxSpec, ImageTargetSpec, MarkerSpec, RoomSpec,
                                        SceneSpec, Surface, surface_pose)

_POSE_KEYS = {"position", "normal", "yaw_deg", "matrix", "lift"}
_TOP_KEYS = {"name", "description", "seed", "marker_dictionary", "room", "boxes", "markers", "boards",
             "image_targets", "surfaces", "camera", "px_per_m"}


class _Ctx:
    def __init__(self, path):
        self.path = str(path)

    def fail(self, key, msg):
        raise SceneFileError(self.path, msg, key=key)

    def check_keys(self, d, allowed, key):
        if not isinstance(d, dict):
            self.fail(key, f"must be a mapping, got {type(d).__name__}")
        extra = set(d) - set(allowed)
        if extra:
            self.fail(key, f"unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")

    def vec(self, d, name, key, n=3, default=None):
        v = d.get(name, default)
        if v is None:
            self.fail(f"{key}.{name}", "is required")
        a = np.asarray(v, dtype=np.float64).ravel() if _is_numeric_list(v, n) else None
        if a is None or a.size != n:
            self.fail(f"{key}.{name}", f"must be a list of {n} numbers, got {v!r}")
        return a

    def num(self, d, name, key, default=None, positive=False):
        v = d.get(name, default)
        if v is None:
            self.fail(f"{key}.{name}", "is required")
        try:
            x = float(v)
        except (TypeError, ValueError):
            self.fail(f"{key}.{name}", f"must be a number, got {v!r}")
        if positive and not x > 0:
            self.fail(f"{key}.{name}", f"must be positive, got {v!r}")
        return x

    def pose(self, d, key, lift=0.0):
        if "matrix" in d:
            M = np.asarray(d["matrix"], dtype=np.float64)
            if M.shape != (4, 4):
                self.fail(f"{key}.matrix", f"must be a 4x4 matrix, got shape {M.shape}")
            return M
        normal = self.vec(d, "normal", key, default=[0.0, 1.0, 0.0])
        if np.linalg.norm(normal) < 1e-9:
            self.fail(f"{key}.normal", "must not be the zero vector")
        lift = self.num(d, "lift", key, default=lift)
        return surface_pose(self.vec(d, "position", key), normal, self.num(d, "yaw_deg", key, default=0.0), lift)


def _is_numeric_list(v, n):
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.size == n and np.all(np.isfinite(a))


def scene_from_dict(d: dict, path="<recipe>") -> SceneSpec:
    """Build a :class:`SceneSpec` from a recipe mapping; raises :class:`SceneFileError` naming the bad key."""
    c = _Ctx(path)
    c.check_keys(d, _TOP_KEYS, "<top level>")
    default_dict = str(d.get("marker_dictionary", "DICT_6X6_250"))
    spec = SceneSpec(name=str(d.get("name", "scene")), description=str(d.get("description", "")),
                     seed=int(d.get("seed", 0)), px_per_m=c.num(d, "px_per_m", "<top level>", default=512.0, positive=True),
                     source=str(path))
    room = d.get("room", {})
    if room is None:
        spec.room = None
    else:
        c.check_keys(room, {"size", "center_xz", "floor", "walls", "ceiling"}, "room")
        spec.room = RoomSpec(size=tuple(c.vec(room, "size", "room", default=[5.0, 2.6, 5.0])),
                             center_xz=tuple(c.vec(room, "center_xz", "room", n=2, default=[0.0, 0.0])))
        for part in ("floor", "walls", "ceiling"):
            if part in room:
                setattr(spec.room, part, _material(c, room[part], f"room.{part}"))
    for i, b in enumerate(d.get("boxes", []) or []):
        k = f"boxes[{i}]"
        c.check_keys(b, {"name", "kind", "position", "yaw_deg", "size", "texture", "top_thickness", "leg_width"}, k)
        kind = str(b.get("kind", "box"))
        if kind not in ("box", "table"):
            c.fail(f"{k}.kind", f"must be 'box' or 'table', got {kind!r}")
        T = surface_pose(c.vec(b, "position", k), [0, 1, 0], c.num(b, "yaw_deg", k, default=0.0))
        size = c.vec(b, "size", k)
        if np.any(size <= 0):
            c.fail(f"{k}.size", f"must be positive, got {size.tolist()}")
        if kind == "table" and c.num(b, "top_thickness", k, default=0.04) >= size[1]:
            c.fail(f"{k}.top_thickness", f"must be less than the table height {size[1]}")
        spec.boxes.append(BoxSpec(str(b.get("name", f"box{i}")), T, tuple(size), _material(c, b.get("texture"), k),
                                  kind=kind, top_thickness_m=c.num(b, "top_thickness", k, default=0.04, positive=True),
                                  leg_width_m=c.num(b, "leg_width", k, default=0.05, positive=True)))
    for i, m in enumerate(d.get("markers", []) or []):
        k = f"markers[{i}]"
        c.check_keys(m, _POSE_KEYS | {"id", "size", "dictionary", "quiet_zone"}, k)
        if "id" not in m:
            c.fail(f"{k}.id", "is required")
        spec.markers.append(MarkerSpec(int(m["id"]), str(m.get("dictionary", default_dict)),
                                       c.num(m, "size", k, positive=True), c.pose(m, k, lift=DECAL_LIFT_M),
                                       quiet_zone_m=None if m.get("quiet_zone") is None
                                       else c.num(m, "quiet_zone", k, positive=True)))
    for i, b in enumerate(d.get("boards", []) or []):
        k = f"boards[{i}]"
        c.check_keys(b, _POSE_KEYS | {"name", "size", "marker_length", "separation", "dictionary", "first_id",
                                       "margin"}, k)
        nx, ny = (int(v) for v in c.vec(b, "size", k, n=2))
        if nx < 1 or ny < 1:
            c.fail(f"{k}.size", f"must be at least [1, 1] markers, got {[nx, ny]}")
        spec.boards.append(BoardSpec(str(b.get("name", f"board{i}")), str(b.get("dictionary", default_dict)), nx, ny,
                                     c.num(b, "marker_length", k, positive=True),
                                     c.num(b, "separation", k, positive=True), c.pose(b, k, lift=DECAL_LIFT_M),
                                     first_id=int(b.get("first_id", 0)),
                                     margin_m=c.num(b, "margin", k, default=0.01)))
    for i, t in enumerate(d.get("image_targets", []) or []):
        k = f"image_targets[{i}]"
        c.check_keys(t, _POSE_KEYS | {"name", "width", "height", "texture", "unlit"}, k)
        spec.image_targets.append(ImageTargetSpec(
            str(t.get("name", f"target{i}")), c.pose(t, k, lift=DECAL_LIFT_M), c.num(t, "width", k, positive=True),
            c.num(t, "height", k, positive=True), _material(c, t.get("texture", {"type": "poster"}), k),
            unlit=bool(t.get("unlit", False))))
    for i, s in enumerate(d.get("surfaces", []) or []):
        k = f"surfaces[{i}]"
        c.check_keys(s, _POSE_KEYS | {"name", "kind", "size", "texture", "unlit"}, k)
        spec.surfaces_extra.append(Surface(str(s.get("name", f"surface{i}")), str(s.get("kind", "surface")),
                                           c.pose(s, k), tuple(c.vec(s, "size", k, n=2)),
                                           _material(c, s.get("texture"), k), unlit=bool(s.get("unlit", False))))
    cam = d.get("camera", {}) or {}
    if not isinstance(cam, dict):
        c.fail("camera", "must be a mapping of camera-path options")
    from arkit.synthetic.camera_paths import PATH_OPTIONS, PATH_TYPES

    unknown = set(cam) - set(PATH_OPTIONS)
    if unknown:
        c.fail("camera", f"unknown camera path option(s) {sorted(unknown)}; known: {sorted(PATH_OPTIONS)}")
    if cam.get("type", "orbit") not in PATH_TYPES:
        c.fail("camera.type", f"unknown camera path type {cam.get('type')!r}; use one of {', '.join(PATH_TYPES)}")
    spec.camera = dict(cam)
    _check_unique_ids(c, spec)
    return spec


def _material(c: _Ctx, m, key) -> dict:
    if m is None:
        return {"type": "noise"}
    if isinstance(m, str):
        return {"type": m}
    if not isinstance(m, dict):
        c.fail(f"{key}.texture", f"must be a texture type name or a mapping, got {m!r}")
    from arkit.synthetic.textures import TEXTURE_TYPES, texture_options

    kind = m.get("type", "noise")
    if kind not in TEXTURE_TYPES:
        c.fail(f"{key}.texture.type", f"unknown texture type {kind!r}; use one of {', '.join(TEXTURE_TYPES)}")
    c.check_keys(m, texture_options(kind), f"{key}.texture")
    return dict(m)


def _check_unique_ids(c: _Ctx, spec: SceneSpec) -> None:
    seen = {}
    markers = spec.all_markers()
    if markers:
        from arkit.synthetic.textures import aruco_dictionary

        sizes = {}
        for m in markers:
            if m.dictionary not in sizes:
                try:
                    sizes[m.dictionary] = aruco_dictionary(m.dictionary).bytesList.shape[0]
                except SceneFileError as e:
                    c.fail("marker_dictionary", str(e).split(": ", 1)[-1])
            if not 0 <= m.marker_id < sizes[m.dictionary]:
                c.fail(m.board and f"boards[{m.board}]" or "markers",
                       f"marker id {m.marker_id} is out of range for {m.dictionary} (0..{sizes[m.dictionary] - 1})")
    for m in markers:
        key = (m.dictionary, m.marker_id)
        if key in seen:
            c.fail("markers", f"marker id {m.marker_id} ({m.dictionary}) is used twice "
                              f"({seen[key]} and {m.board or 'markers'}); ids must be unique per dictionary")
        seen[key] = m.board or "markers"
