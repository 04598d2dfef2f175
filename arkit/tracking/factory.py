"""Build a tracker from a validated scene-file ``tracking`` section."""

from __future__ import annotations

from typing import Optional

from arkit.core.errors import ArkitError
from arkit.tracking.base import Tracker


def build_marker_map(cfg: dict, dictionary: str, default_size_m: float, sizes_m: dict):
    """A :class:`MarkerMap` from the ``tracking.map`` section (board, marker list or single id)."""
    from arkit.tracking.marker_map import MarkerMap

    if "board" in cfg:
        b = dict(cfg["board"])
        kind = b.pop("type", "grid")
        dict_name = b.pop("dictionary", dictionary)
        if kind == "charuco":
            return MarkerMap.charuco_board(b["markers_x"], b["markers_y"], b["square_length_m"], b["marker_length_m"],
                                           dict_name, first_id=b.get("first_id", 0))
        return MarkerMap.grid_board(b["markers_x"], b["markers_y"], b["marker_length_m"], b["separation_m"],
                                    dict_name, first_id=b.get("first_id", 0))
    if "markers" in cfg:
        return MarkerMap.from_dict({"markers": [dict({"size_m": sizes_m.get(m["id"], default_size_m)}, **m)
                                                for m in cfg["markers"]]})
    if "single" in cfg:
        mid = int(cfg["single"])
        return MarkerMap.single(mid, sizes_m.get(mid, default_size_m))
    raise ArkitError("tracking.map needs 'board', 'markers' or 'single'")


def build_tracker(tracking: dict) -> Optional[Tracker]:
    """Tracker for a scene file's ``tracking`` section (``type``: markers, recorded,
    model_target, vslam or none)."""
    kind = tracking.get("type", "markers")
    if kind == "none":
        return None
    if kind == "markers":
        from arkit.tracking.marker_tracker import MarkerTracker

        dictionary = tracking.get("dictionary", "DICT_6X6_250")
        size = float(tracking.get("marker_size_m", 0.05))
        sizes = dict(tracking.get("marker_sizes_m", {}))
        marker_map = build_marker_map(tracking["map"], dictionary, size, sizes) if "map" in tracking else None
        smoothing = tracking.get("smoothing")
        if smoothing is True:
            smoothing = {}
        elif smoothing is False:
            smoothing = None
        return MarkerTracker(dictionary=dictionary, marker_size_m=size, marker_sizes_m=sizes or None,
                             marker_map=marker_map, smoothing=smoothing,
                             min_markers=int(tracking.get("min_markers", 1)),
                             detector_params=tracking.get("detector_params"))
    if kind == "recorded":
        from arkit.tracking.recorded import RecordedPoseTracker

        if "trajectory" in tracking:
            from arkit.io.trajectory_formats import read_trajectory

            return RecordedPoseTracker(read_trajectory(tracking["trajectory"]))
        return RecordedPoseTracker()
    if kind == "model_target":
        from arkit.recognition.model_target_tracker import ModelTargetCameraTracker
        from arkit.recognition.model_targets import ModelTarget

        target = ModelTarget.from_opencv_tutorial(tracking["features"], tracking["mesh"],
                                                  name=tracking.get("name", "object"),
                                                  units_m=float(tracking.get("units_m", 1.0)),
                                                  up=str(tracking.get("up", "+z")))
        return ModelTargetCameraTracker(target)
    if kind == "vslam":
        return build_visual_tracker(tracking)
    raise ArkitError(f"unknown tracking type '{kind}'")


def build_visual_tracker(tracking: dict) -> Tracker:
    """``type: vslam``: a :class:`VisualTracker` (``mode``: auto, rgbd or mono; ``vslam``: overrides of
    :class:`VisualTrackerConfig` fields), wrapped in a :class:`WorldAlignedTracker` when ``scale``
    (marker, depth, recorded, image_target) or ``gravity`` (imu, floor, recorded, marker,
    image_target, map_floor) is given; the marker options are ``dictionary``, ``marker_size_m``
    and ``marker_id``, the image target ones ``image_targets`` (database or folder) and
    ``image_target`` (name), the recorded world's up axis ``recorded_up`` (default [0, 1, 0]).
    See ``docs/tracking.md``.
    """
    import dataclasses

    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

    overrides = dict(tracking.get("vslam") or {})
    fields = {f.name for f in dataclasses.fields(VisualTrackerConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ArkitError(f"tracking.vslam: unknown VisualTrackerConfig field(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(fields))}")
    overrides["mode"] = tracking.get("mode", overrides.get("mode", "auto"))
    tracker = VisualTracker(VisualTrackerConfig(**overrides))
    scale, gravity = tracking.get("scale"), tracking.get("gravity")
    if scale is None and gravity is None:
        return tracker
    from arkit.tracking.world_alignment import WorldAlignedTracker

    return WorldAlignedTracker(tracker, scale=scale, gravity=gravity,
                               marker_dictionary=tracking.get("dictionary", "DICT_6X6_250"),
                               marker_size_m=tracking.get("marker_size_m"), marker_id=tracking.get("marker_id"),
                               recorded_up_world=tracking.get("recorded_up", (0.0, 1.0, 0.0)),
                               image_targets=tracking.get("image_targets"),
                               image_target_name=tracking.get("image_target"))
