"""One camera frame as every stage sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import FrameError, IntrinsicsError
from arkit.core.pose import as_transform, readonly


@dataclass(frozen=True)
class Frame:
    """An image (and optional depth) with its intrinsics and time.

    Parameters
    ----------
    index : int
        0-based position in the source.
    timestamp_s : float
        Time on the source's clock, seconds.
    image_rgb : (H, W, 3) uint8
        Colour image, RGB order. Grayscale sources are expanded to three channels.
    intrinsics : Intrinsics
        Must match ``(W, H)``.
    depth_m : (H, W) float32, optional
        Metric depth registered to the image, 0 = invalid.
    T_world_camera_recorded : (4, 4) float64, optional
        A pose stored with the recording (ground truth or phone tracking), OpenCV axes.
    meta : dict
        Source-specific extras (file name, confidence, IMU samples, ...).
    """

    index: int
    timestamp_s: float
    image_rgb: np.ndarray
    intrinsics: Intrinsics
    depth_m: Optional[np.ndarray] = None
    T_world_camera_recorded: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        img = self.image_rgb
        if not isinstance(img, np.ndarray) or img.size == 0:
            raise FrameError(f"frame {self.index}: image is empty or not an array")
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise FrameError(f"frame {self.index}: image must be (H, W, 3) RGB, got shape {img.shape}")
        if img.shape[2] == 4:
            img = img[:, :, :3]
        if img.dtype != np.uint8:
            raise FrameError(f"frame {self.index}: image must be uint8, got {img.dtype}")
        if not isinstance(self.intrinsics, Intrinsics):
            raise IntrinsicsError(f"frame {self.index}: intrinsics must be an arkit.Intrinsics")
        self.intrinsics.check_image(img, what=f"frame {self.index}")
        object.__setattr__(self, "image_rgb", readonly(img) if img.flags.writeable else img)
        if self.depth_m is not None:
            d = np.asarray(self.depth_m)
            if d.shape != img.shape[:2]:
                raise FrameError(
                    f"frame {self.index}: depth is {d.shape[1]}x{d.shape[0]} but the image is "
                    f"{img.shape[1]}x{img.shape[0]}; register depth to the colour image first"
                )
            d = d.astype(np.float32, copy=False)
            if not np.all(np.isfinite(d)):
                d = np.where(np.isfinite(d), d, 0.0).astype(np.float32)
            if np.any(d < 0):
                raise FrameError(f"frame {self.index}: depth has negative values (metres expected)")
            object.__setattr__(self, "depth_m", readonly(d) if d.flags.writeable else d)
        if self.T_world_camera_recorded is not None:
            object.__setattr__(
                self, "T_world_camera_recorded",
                readonly(as_transform(self.T_world_camera_recorded, "T_world_camera_recorded")),
            )

    @property
    def width(self) -> int:
        return self.image_rgb.shape[1]

    @property
    def height(self) -> int:
        return self.image_rgb.shape[0]

    @property
    def gray(self) -> np.ndarray:
        """(H, W) uint8 luminance (ITU-R BT.601 weights)."""
        img = self.image_rgb.astype(np.float32)
        return np.clip(img @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5, 0, 255).astype(np.uint8)
