"""Camera intrinsics: pinhole with OpenCV radial-tangential distortion, or fisheye (equidistant).

Pure numpy (no cv2) so it can be used anywhere; the projection matches ``cv2.projectPoints``
(pinhole) and ``cv2.fisheye.projectPoints`` (fisheye) and is tested against them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from arkit.core.errors import IntrinsicsError

PINHOLE = "pinhole"
FISHEYE = "fisheye"


@dataclass(frozen=True)
class Intrinsics:
    """Intrinsic calibration of one camera at one resolution.

    Parameters
    ----------
    width, height : int
        Image size in pixels the calibration belongs to.
    fx, fy, cx, cy : float
        Focal lengths and principal point in pixels.
    dist : tuple of float
        Pinhole: OpenCV order ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])``; fisheye: ``(k1, k2, k3, k4)``.
        Empty for an ideal pinhole.
    model : {"pinhole", "fisheye"}

    >>> K = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0)
    >>> K.project([[0.0, 0.0, 2.0]]).tolist()
    [[320.0, 240.0]]
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple = field(default=())
    model: str = PINHOLE

    def __post_init__(self):
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "dist", tuple(float(d) for d in np.asarray(self.dist, dtype=np.float64).ravel()))
        if self.width <= 0 or self.height <= 0:
            raise IntrinsicsError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.fx) and math.isfinite(self.fy)):
            raise IntrinsicsError(f"focal lengths must be positive and finite, got fx={self.fx} fy={self.fy}")
        if not (math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise IntrinsicsError(f"principal point must be finite, got cx={self.cx} cy={self.cy}")
        if self.model not in (PINHOLE, FISHEYE):
            raise IntrinsicsError(f"unknown camera model '{self.model}' (use 'pinhole' or 'fisheye')")
        n = len(self.dist)
        if self.model == PINHOLE and n not in (0, 4, 5, 8):
            raise IntrinsicsError(f"pinhole distortion needs 0, 4, 5 or 8 coefficients, got {n}")
        if self.model == FISHEYE and n not in (0, 4):
            raise IntrinsicsError(f"fisheye distortion needs 4 coefficients, got {n}")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_matrix(cls, K, width: int, height: int, dist=(), model: str = PINHOLE) -> "Intrinsics":
        """From a (3, 3) camera matrix."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise IntrinsicsError(f"camera matrix must be 3x3, got shape {K.shape}")
        return cls(width, height, K[0, 0], K[1, 1], K[0, 2], K[1, 2], tuple(np.ravel(dist)), model)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = 60.0, warn: bool = True) -> "Intrinsics":
        """A guess from a horizontal field of view, centred principal point, no distortion.

        Emits a warning (the guess is only good enough for a first look)."""
        if not 1.0 < hfov_deg < 179.0:
            raise IntrinsicsError(f"horizontal field of view must be in (1, 179) degrees, got {hfov_deg}")
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
        if warn:
            warnings.warn(
                f"no intrinsics given: guessing a {hfov_deg:.0f} degree horizontal field of view "
                f"(fx=fy={f:.1f} px for {width}x{height}); pass calibrated intrinsics for metric accuracy",
                stacklevel=2,
            )
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    # -- properties ---------------------------------------------------------------------------
    @property
    def K(self) -> np.ndarray:
        """(3, 3) float64 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dist_coeffs(self) -> np.ndarray:
        """Distortion coefficients as a float64 array (zeros(4) when there are none)."""
        return np.array(self.dist if self.dist else (0.0, 0.0, 0.0, 0.0), dtype=np.float64)

    @property
    def has_distortion(self) -> bool:
        return any(d != 0.0 for d in self.dist)

    @property
    def size(self) -> tuple:
        """``(width, height)``."""
        return (self.width, self.height)

    # -- operations ---------------------------------------------------------------------------
    def scaled(self, width: int, height: int) -> "Intrinsics":
        """The same camera at another resolution (pixel-centre convention preserved)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            width, height, self.fx * sx, self.fy * sy,
            (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, self.dist, self.model,
        )

    def undistorted(self) -> "Intrinsics":
        """The same K with no distortion."""
        return Intrinsics(self.width, self.height, self.fx, self.fy, self.cx, self.cy, (), PINHOLE)

    def check_image(self, image: np.ndarray, what: str = "frame") -> None:
        """Raise :class:`IntrinsicsError` if ``image`` is not ``height x width``."""
        h, w = np.shape(image)[:2]
        if (w, h) != (self.width, self.height):
            raise IntrinsicsError(
                f"intrinsics are for {self.width}x{self.height} but the {what} is {w}x{h}; "
                f"pass intrinsics calibrated at this resolution or use Intrinsics.scaled({w}, {h})"
            )

    def distort_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Apply distortion to normalised coordinates (N, 2) -> (N, 2)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if not self.has_distortion:
            return xy.copy()
        x, y = xy[:, 0], xy[:, 1]
        if self.model == FISHEYE:
            k1, k2, k3, k4 = self.dist
            r = np.hypot(x, y)
            th = np.arctan(r)
            th_d = th * (1 + k1 * th**2 + k2 * th**4 + k3 * th**6 + k4 * th**8)
            s = np.where(r > 1e-12, th_d / np.maximum(r, 1e-12), 1.0)
            return np.stack([x * s, y * s], axis=1)
        d = list(self.dist) + [0.0] * (8 - len(self.dist))
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        r2 = x * x + y * y
        radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=1)

    def undistort_normalized(self, xy_d: np.ndarray, iterations: int = 100) -> np.ndarray:
        """Invert :meth:`distort_normalized` by fixed-point iteration (N, 2) -> (N, 2)."""
        xy_d = np.asarray(xy_d, dtype=np.float64).reshape(-1, 2)
        if not self.has_distortion:
            return xy_d.copy()
        xy = xy_d.copy()
        for _ in range(iterations):
            err = self.distort_normalized(xy) - xy_d
            xy = xy - err
            if np.max(np.abs(err)) < 1e-12:
                break
        return xy

    def project(self, points_camera) -> np.ndarray:
        """Project camera-frame points (N, 3), OpenCV axes, to pixels (N, 2) float64.

        Points with z <= 0 project to NaN."""
        P = np.asarray(points_camera, dtype=np.float64).reshape(-1, 3)
        z = P[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = P[:, :2] / z[:, None]
        xy = self.distort_normalized(xy)
        uv = np.empty_like(xy)
        uv[:, 0] = self.fx * xy[:, 0] + self.cx
        uv[:, 1] = self.fy * xy[:, 1] + self.cy
        uv[z <= 0] = np.nan
        return uv

    def unproject(self, uv, depth=None) -> np.ndarray:
        """Pixels (N, 2) to camera-frame points (N, 3); without ``depth`` the rays have z = 1."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        xy_d = np.stack([(uv[:, 0] - self.cx) / self.fx, (uv[:, 1] - self.cy) / self.fy], axis=1)
        xy = self.undistort_normalized(xy_d)
        rays = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
        if depth is None:
            return rays
        return rays * np.asarray(depth, dtype=np.float64).reshape(-1, 1)

    def to_dict(self) -> dict:
        return {
            "width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy,
            "cx": self.cx, "cy": self.cy, "dist": list(self.dist), "model": self.model,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        try:
            return cls(d["width"], d["height"], d["fx"], d["fy"], d["cx"], d["cy"],
                       tuple(d.get("dist", ())), d.get("model", PINHOLE))
        except KeyError as e:
            raise IntrinsicsError(f"intrinsics are missing the field {e.args[0]!r}") from None
