"""Scene description for synthetic sequences: every visible thing is a planar, textured rectangle.

World frame: metres, right-handed, **+Y up**, the floor is ``y = 0``. Every rectangle is a
:class:`Surface` with a pose ``T_world_local`` whose origin is the rectangle's centre, +Y its
outward normal and X, Z in the surface (the arkit surface-anchor convention). The texture's
row 0 lies along the local -Z edge and column 0 along the local -X edge, so a marker's or
poster's "top" is its -Z edge, as in :class:`arkit.core.trackables.MarkerTrackable`.

Higher-level entries (room, boxes, tables, markers, marker boards, image targets) expand to
surfaces with :meth:`SceneSpec.surfaces`; the recipe parser lives in
:mod:`arkit.synthetic.recipe_parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.pose import as_transform, from_rt, transform_points
from arkit.synthetic.furniture import BoxSpec, RoomSpec
from arkit.synthetic.surfaces import (DECAL_LIFT_M, PLANE_KINDS, Surface, derived_seed, surface_pose,
                                      surface_rotation)

__all__ = ["BoardSpec", "BoxSpec", "DECAL_LIFT_M", "ImageTargetSpec", "MarkerSpec", "PLANE_KINDS", "RoomSpec",
           "SceneSpec", "Surface", "derived_seed", "surface_pose", "surface_rotation"]


@dataclass
class MarkerSpec:
    """A fiducial marker: ``T_world_marker`` in arkit's marker frame (centre, +Y out of the printed
    face, +X along the top edge left to right, +Z towards the bottom edge).

    ``size_m`` is the printed black square's side; ``quiet_zone_m`` the white border around it.
    ``board`` names the marker board it belongs to (drawn by the board, not on its own)."""

    marker_id: int
    dictionary: str
    size_m: float
    T_world_marker: np.ndarray
    quiet_zone_m: Optional[float] = None
    board: Optional[str] = None

    def __post_init__(self):
        self.T_world_marker = as_transform(self.T_world_marker, f"marker {self.marker_id} pose")
        if self.quiet_zone_m is None:
            self.quiet_zone_m = self.size_m / 8.0

    def corners_world(self) -> np.ndarray:
        """(4, 3) corners in ArUco order (top-left, top-right, bottom-right, bottom-left)."""
        h = self.size_m / 2
        local = np.array([[-h, 0, -h], [h, 0, -h], [h, 0, h], [-h, 0, h]], dtype=np.float64)
        return transform_points(self.T_world_marker, local)

    def to_dict(self) -> dict:
        return {"id": int(self.marker_id), "dictionary": self.dictionary, "size_m": self.size_m,
                "T_world_marker": self.T_world_marker.tolist(), "quiet_zone_m": self.quiet_zone_m,
                "corners_world": self.corners_world().tolist(), "board": self.board}


@dataclass
class BoardSpec:
    """A grid of markers laid out exactly as ``cv2.aruco.GridBoard(size, length, separation, dict)``.

    ``T_world_sheet`` places the white sheet (centre, +Y up out of the print). ``T_world_board``
    (computed) maps OpenCV's board object-point frame (origin at marker 0's top-left corner,
    x along rows, y down the columns, z into the board) to the world."""

    name: str
    dictionary: str
    markers_x: int
    markers_y: int
    marker_length_m: float
    separation_m: float
    T_world_sheet: np.ndarray
    first_id: int = 0
    margin_m: float = 0.01

    def __post_init__(self):
        self.T_world_sheet = as_transform(self.T_world_sheet, f"board {self.name} pose")

    @property
    def extent_m(self) -> tuple:
        """Width and height of the marker grid (no margin)."""
        L, S = self.marker_length_m, self.separation_m
        return self.markers_x * L + (self.markers_x - 1) * S, self.markers_y * L + (self.markers_y - 1) * S

    @property
    def T_world_board(self) -> np.ndarray:
        w, h = self.extent_m
        R_sheet_board = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
        return self.T_world_sheet @ from_rt(R_sheet_board, [-w / 2, 0.0, -h / 2])

    def object_points(self) -> tuple:
        """``(ids (N,) int, corners (N, 4, 3) float64)`` in the board frame, GridBoard order."""
        L, S = self.marker_length_m, self.separation_m
        ids, corners = [], []
        for row in range(self.markers_y):
            for col in range(self.markers_x):
                x0, y0 = col * (L + S), row * (L + S)
                corners.append([[x0, y0, 0], [x0 + L, y0, 0], [x0 + L, y0 + L, 0], [x0, y0 + L, 0]])
                ids.append(self.first_id + row * self.markers_x + col)
        return np.array(ids), np.array(corners, dtype=np.float64)

    def markers(self) -> list:
        """The board's markers as :class:`MarkerSpec` (poses from the corner geometry)."""
        out = []
        ids, corners = self.object_points()
        T = self.T_world_board
        for mid, c in zip(ids, corners):
            cw = transform_points(T, c)
            x = cw[1] - cw[0]
            z = cw[3] - cw[0]
            x, z = x / np.linalg.norm(x), z / np.linalg.norm(z)
            R = np.stack([x, np.cross(z, x), z], axis=1)
            out.append(MarkerSpec(int(mid), self.dictionary, self.marker_length_m, from_rt(R, cw.mean(axis=0)),
                                  quiet_zone_m=self.separation_m / 2, board=self.name))
        return out

    def to_dict(self) -> dict:
        ids, _ = self.object_points()
        return {"name": self.name, "dictionary": self.dictionary, "size": [self.markers_x, self.markers_y],
                "marker_length_m": self.marker_length_m, "separation_m": self.separation_m,
                "first_id": self.first_id, "ids": ids.tolist(), "margin_m": self.margin_m,
                "T_world_sheet": self.T_world_sheet.tolist(), "T_world_board": self.T_world_board.tolist(),
                "board_frame": "cv2.aruco.GridBoard object points: origin at marker 0 top-left corner, "
                               "x along a row, y down the columns, z into the board"}


@dataclass
class ImageTargetSpec:
    """A textured planar poster with known pose and physical size (an image-recognition target)."""

    name: str
    T_world_local: np.ndarray
    width_m: float
    height_m: float
    material: dict = field(default_factory=lambda: {"type": "poster"})
    unlit: bool = False

    def __post_init__(self):
        self.T_world_local = as_transform(self.T_world_local, f"image target {self.name} pose")

    def to_dict(self) -> dict:
        return {"name": self.name, "T_world_local": self.T_world_local.tolist(), "width_m": self.width_m,
                "height_m": self.height_m, "image": f"targets/{self.name}.png"}


@dataclass
class SceneSpec:
    """A whole synthetic scene plus the camera path recipe.

    ``camera`` holds keyword arguments for :func:`arkit.synthetic.camera_paths.make_camera_path`
    (``type``, ``target``, distances, speed, ...). ``surfaces_extra`` are free-form rectangles
    (any ``kind``) for later trackable kinds."""

    name: str = "scene"
    description: str = ""
    seed: int = 0
    room: Optional[RoomSpec] = field(default_factory=RoomSpec)
    boxes: list = field(default_factory=list)
    markers: list = field(default_factory=list)
    boards: list = field(default_factory=list)
    image_targets: list = field(default_factory=list)
    surfaces_extra: list = field(default_factory=list)
    camera: dict = field(default_factory=dict)
    px_per_m: float = 512.0
    source: str = ""

    def all_markers(self) -> list:
        """Individual markers followed by every board's markers."""
        out = list(self.markers)
        for b in self.boards:
            out += b.markers()
        return out

    def surfaces(self) -> list:
        """Every rectangle in the scene (room, boxes, decals, extras), names unique."""
        out = []
        if self.room is not None:
            out += self.room.surfaces()
        for b in self.boxes:
            out += b.surfaces()
        for m in self.markers:
            q = m.size_m + 2 * m.quiet_zone_m
            out.append(Surface(f"marker:{m.marker_id}", "marker", m.T_world_marker, (q, q), {}, unlit=True))
        for b in self.boards:
            w, h = b.extent_m
            out.append(Surface(f"board:{b.name}", "marker_board", b.T_world_sheet,
                               (w + 2 * b.margin_m, h + 2 * b.margin_m), {}, unlit=True))
        for t in self.image_targets:
            out.append(Surface(f"image:{t.name}", "image_target", t.T_world_local, (t.width_m, t.height_m),
                               dict(t.material), unlit=t.unlit))
        out += list(self.surfaces_extra)
        return out

    def clearance_violations(self, positions, margin_m: float = 0.05) -> list:
        """Describe camera positions that are outside the room or inside/too close to a box.

        Parameters
        ----------
        positions : (N, 3) float64
            Camera centres in world coordinates.
        margin_m : float
            Required distance from box volumes and room walls.

        Returns
        -------
        list of str
            One message per offending object (empty when the path is clear).
        """
        P = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        out = []
        if self.room is not None:
            X, Y, Z = (float(v) for v in self.room.size)
            cx, cz = (float(v) for v in self.room.center_xz)
            inside = ((np.abs(P[:, 0] - cx) < X / 2 - margin_m) & (np.abs(P[:, 2] - cz) < Z / 2 - margin_m)
                      & (P[:, 1] > margin_m) & (P[:, 1] < Y - margin_m))
            if not inside.all():
                out.append(f"{int((~inside).sum())} camera positions are outside the room (or within {margin_m} m of it)")
        for b in self.boxes:
            local = transform_points(np.linalg.inv(b.T_world_box), P)
            sx, sy, sz = b.size
            hit = ((np.abs(local[:, 0]) < sx / 2 + margin_m) & (np.abs(local[:, 2]) < sz / 2 + margin_m)
                   & (local[:, 1] > -margin_m) & (local[:, 1] < sy + margin_m))
            if hit.any():
                out.append(f"{int(hit.sum())} camera positions are inside or within {margin_m} m of {b.kind} {b.name!r}")
        return out

    def to_dict(self) -> dict:
        """JSON-ready description (what ``scene.json`` holds)."""
        surfaces = self.surfaces()
        return {
            "name": self.name, "description": self.description, "seed": self.seed, "source": self.source,
            "world": {"units": "m", "up": [0.0, 1.0, 0.0], "floor_y": 0.0,
                      "surface_frame": "origin at centre, +Y normal, texture top row along local -Z"},
            "room": None if self.room is None else self.room.to_dict(),
            "markers": [m.to_dict() for m in self.all_markers()],
            "boards": [b.to_dict() for b in self.boards],
            "image_targets": [t.to_dict() for t in self.image_targets],
            "boxes": [b.to_dict() for b in self.boxes],
            "surfaces": [s.to_dict() for s in surfaces],
            "planes": [s.to_dict() for s in surfaces if s.is_plane],
            "camera": dict(self.camera),
        }
