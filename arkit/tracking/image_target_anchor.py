"""Metric scale (and gravity) from an image target of known physical width.

:class:`ImageTargetAnchor` is an anchor source for
:class:`~arkit.tracking.world_alignment.WorldAlignedTracker` (``scale="image_target"``, and
``gravity="image_target"`` when the target lies flat): on every frame it detects the target
with :meth:`arkit.recognition.image_targets.ImageTargetDatabase.detect` (features, seeded
homography, sub-pixel refinement, PnP with the target's metric size) and reports the camera's
pose in the target's local frame (centre of the image, +Y out of its face, +X along its top
edge, +Z towards its bottom edge; metres).

>>> anchor = ImageTargetAnchor("targets.npz", target_name="poster")        # doctest: +SKIP
>>> anchor.T_anchor_camera(frame)                                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError
from arkit.core.frame import Frame
from arkit.core.pose import invert

log = logging.getLogger(__name__)


def load_target_database(database):
    """An :class:`~arkit.recognition.image_targets.ImageTargetDatabase` from itself, a ``.npz``
    written by ``arkit targets build`` or a folder of target images (as ``recognition:
    {image_targets: ...}`` in scene files).

    Raises
    ------
    InputFileError
        The path does not exist or is not a readable database.
    """
    from arkit.recognition.image_targets import ImageTargetDatabase

    if isinstance(database, ImageTargetDatabase):
        return database
    p = Path(database)
    return ImageTargetDatabase.from_folder(p) if p.is_dir() else ImageTargetDatabase.load(p)


class ImageTargetAnchor:
    """Metric camera poses from one image target (anchor frame = the target's local frame).

    Parameters
    ----------
    database : ImageTargetDatabase, str or Path
        The targets (with their physical widths): a database, a ``.npz`` or a folder of images.
    target_name : str, optional
        Which target; default: the first one detected (then kept).
    max_reprojection_px : float
        Detections whose pose reprojects worse than this (RMS, pixels) are ignored.
    min_inliers : int
        Detections with fewer feature inliers are ignored.

    Raises
    ------
    ArkitError
        ``target_name`` is not in the database, or the database is empty.
    """

    name = "image_target"

    def __init__(self, database, target_name: Optional[str] = None, max_reprojection_px: float = 2.0,
                 min_inliers: int = 20):
        self.database = load_target_database(database)
        if len(self.database) == 0:
            raise ArkitError("ImageTargetAnchor: the image target database is empty; add target images with widths")
        if target_name is not None and target_name not in self.database.names:
            raise ArkitError(f"ImageTargetAnchor: no image target named {target_name!r}; "
                             f"known: {', '.join(self.database.names)}")
        self.target_name = target_name
        self.max_reprojection_px = float(max_reprojection_px)
        self.min_inliers = int(min_inliers)

    @property
    def width_m(self) -> Optional[float]:
        """Physical width of the chosen target (None until one is chosen)."""
        return None if self.target_name is None else float(self.database.target(self.target_name).width_m)

    def T_anchor_camera(self, frame: Frame) -> Optional[np.ndarray]:
        """Camera pose (4, 4) float64 in the target frame (metres), or None when the target is
        not found with a good pose in this frame."""
        for det in self.database.detect(frame.image_rgb, frame.intrinsics, max_results=len(self.database)):
            if self.target_name is None:
                self.target_name = det.name
                log.info("metric scale from image target %r (%.3f m wide)", det.name, self.width_m)
            if det.name != self.target_name:
                continue
            if (det.T_camera_target is None or det.n_inliers < self.min_inliers
                    or not det.reprojection_error_px <= self.max_reprojection_px):
                return None
            return invert(np.asarray(det.T_camera_target, np.float64))
        return None
