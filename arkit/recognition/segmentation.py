"""People segmentation with MediaPipe's ImageSegmenter: a float mask the compositor uses to occlude.

>>> with PeopleSegmenter() as seg:              # doctest: +SKIP
...     occluder_mask = seg.mask(frame_rgb)    # (H, W) float32, 1 = person

The model file comes from :mod:`arkit.recognition.models` (``selfie_segmenter``; offline via
``arkit models import-wheel``); it is never downloaded here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.errors import FrameError, MissingDependencyError

log = logging.getLogger(__name__)


def to_mp_image(image_rgb: np.ndarray):
    """Wrap an (H, W, 3) uint8 RGB array as a ``mediapipe.Image`` (SRGB)."""
    try:
        import mediapipe as mp
    except ImportError as e:  # pragma: no cover - mediapipe is a declared dependency
        raise MissingDependencyError(f"mediapipe is needed for this model: pip install mediapipe ({e})") from None
    a = np.asarray(image_rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise FrameError(f"expected an (H, W, 3) uint8 RGB image, got {a.dtype} {a.shape}")
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(a))


class PeopleSegmenter:
    """Person-vs-background probability for each pixel.

    Parameters
    ----------
    model : str
        Registry name (``"selfie_segmenter"`` or ``"selfie_segmenter_landscape"``).
    model_path : path, optional
        Use this file instead of the cached registry model.

    Raises
    ------
    arkit.recognition.models.MissingModelError
        When the model file is not cached (the message says how to get it).
    """

    def __init__(self, model: str = "selfie_segmenter", model_path: Optional[str] = None):
        from mediapipe.tasks.python import BaseOptions, vision

        from arkit.recognition.models import model_path as cached

        self.model_file = Path(model_path) if model_path else cached(model)
        opts = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_file)),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        self._seg = vision.ImageSegmenter.create_from_options(opts)

    def mask(self, image_rgb: np.ndarray) -> np.ndarray:
        """Person probability (H, W) float32 in [0, 1], same size as the image.

        A model with one output channel gives the person confidence directly; a model with
        several (background first, as the multi-class selfie model) gives 1 - background.
        """
        result = self._seg.segment(to_mp_image(image_rgb))
        masks = result.confidence_masks or []
        if not masks:
            return np.zeros(np.shape(image_rgb)[:2], np.float32)
        if len(masks) == 1:
            m = masks[0].numpy_view()
        else:
            m = 1.0 - masks[0].numpy_view()
        m = np.asarray(m, dtype=np.float32).reshape(np.shape(image_rgb)[:2])
        return np.clip(m, 0.0, 1.0)

    def close(self) -> None:
        seg, self._seg = getattr(self, "_seg", None), None
        if seg is not None:
            seg.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
