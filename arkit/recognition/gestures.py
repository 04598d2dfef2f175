"""Hand gestures from 21 MediaPipe hand landmarks (pure numpy): pinch distance and a pinch detector.

Landmark order (MediaPipe Hands): 0 wrist; thumb 1-4 (4 = tip); index 5-8 (5 = MCP, 8 = tip);
middle 9-12; ring 13-16; pinky 17-20.

>>> det = PinchDetector()
>>> open_hand = np.zeros((21, 2)); open_hand[9] = (0, -100); open_hand[4] = (-60, -60); open_hand[8] = (0, -180)
>>> det.update(open_hand).state
'none'
>>> pinch = open_hand.copy(); pinch[8] = pinch[4] + (5, 0)
>>> [det.update(pinch).state, det.update(pinch).state, det.update(open_hand).state]
['started', 'held', 'ended']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError

WRIST, THUMB_TIP, INDEX_MCP, INDEX_TIP, MIDDLE_MCP, PINKY_MCP = 0, 4, 5, 8, 9, 17
NUM_HAND_LANDMARKS = 21
#: Landmarks around the palm (wrist and the four finger MCP joints).
PALM_LANDMARKS = (0, 5, 9, 13, 17)


def _check_landmarks(landmarks, name: str = "landmarks") -> np.ndarray:
    a = np.asarray(landmarks, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != NUM_HAND_LANDMARKS or a.shape[1] not in (2, 3):
        raise ArkitError(f"{name} must be ({NUM_HAND_LANDMARKS}, 2) or ({NUM_HAND_LANDMARKS}, 3), got shape {a.shape}")
    return a


def palm_size(landmarks) -> float:
    """Wrist (0) to middle-finger MCP (9) distance, in the landmarks' units."""
    a = _check_landmarks(landmarks)
    return float(np.linalg.norm(a[MIDDLE_MCP] - a[WRIST]))


def pinch_distance(landmarks) -> float:
    """Thumb tip (4) to index tip (8) distance over the palm size (wrist 0 to middle MCP 9).

    Parameters
    ----------
    landmarks : (21, 2) or (21, 3) float
        Hand landmarks in any consistent units: pixels, or MediaPipe world landmarks in metres
        (preferred: 3-D and free of foreshortening). Do not pass normalised image coordinates
        of a non-square image (x and y have different scales there); convert to pixels first.

    Returns
    -------
    float
        Unitless; about 0.1 when the fingertips touch, 1 or more for an open hand. ``inf``
        when the palm size is zero (degenerate input); NaN if any used landmark is NaN.
    """
    a = _check_landmarks(landmarks)
    palm = float(np.linalg.norm(a[MIDDLE_MCP] - a[WRIST]))
    tips = float(np.linalg.norm(a[INDEX_TIP] - a[THUMB_TIP]))
    if not np.isfinite(palm) or not np.isfinite(tips):
        return float("nan")
    return tips / palm if palm > 1e-12 else float("inf")


def pinch_point(landmarks) -> np.ndarray:
    """Midpoint of the thumb tip and index tip, (2,) or (3,) float64 in the landmarks' units."""
    a = _check_landmarks(landmarks)
    return 0.5 * (a[THUMB_TIP] + a[INDEX_TIP])


@dataclass(frozen=True)
class PinchEvent:
    """Pinch state of one hand after one frame.

    Parameters
    ----------
    state : str
        ``"started"`` (this frame), ``"held"``, ``"ended"`` (this frame) or ``"none"``.
    distance : float
        :func:`pinch_distance` this frame (NaN when the hand was not seen).
    point_px : (2,) float64 or None
        Pinch point (thumb/index tip midpoint) in pixels; for ``"ended"`` without a hand, the
        last point seen.
    """

    state: str
    distance: float
    point_px: Optional[np.ndarray] = None

    @property
    def pinching(self) -> bool:
        """True for ``"started"`` and ``"held"``."""
        return self.state in ("started", "held")


class PinchDetector:
    """Pinch start/hold/end for one hand, with hysteresis so noise near a threshold does not flicker.

    A pinch starts when :func:`pinch_distance` drops below ``start_below`` and ends when it rises
    above ``end_above`` (or the hand is lost). Between the thresholds the state is kept.

    Parameters
    ----------
    start_below : float
        Default 0.25 (fingertips about a quarter palm apart).
    end_above : float
        Default 0.4; must be >= ``start_below``.
    """

    def __init__(self, start_below: float = 0.25, end_above: float = 0.4):
        if not (0 < start_below <= end_above):
            raise ArkitError(f"pinch thresholds need 0 < start_below <= end_above, got {start_below}, {end_above}")
        self.start_below = float(start_below)
        self.end_above = float(end_above)
        self._pinching = False
        self._last_point = None

    @property
    def pinching(self) -> bool:
        return self._pinching

    def reset(self) -> None:
        self._pinching = False
        self._last_point = None

    def update(self, landmarks_px=None, distance: Optional[float] = None) -> PinchEvent:
        """Advance one frame.

        Parameters
        ----------
        landmarks_px : (21, 2) float or None
            This frame's landmarks in pixels (the pinch point is taken from them); None when
            the hand is not visible (an ongoing pinch then ends).
        distance : float, optional
            Use this pinch distance (e.g. from 3-D world landmarks) instead of computing it
            from ``landmarks_px``.
        """
        if landmarks_px is None:
            was = self._pinching
            self._pinching = False
            return PinchEvent("ended" if was else "none", float("nan"), self._last_point if was else None)
        pts = _check_landmarks(landmarks_px, "landmarks_px")
        d = pinch_distance(pts) if distance is None else float(distance)
        point = pinch_point(pts)[:2].copy()
        self._last_point = point
        was = self._pinching
        if not np.isfinite(d):
            now = False  # degenerate or missing landmarks: no pinch
        elif was:
            now = d <= self.end_above
        else:
            now = d < self.start_below
        self._pinching = bool(now)
        state = {(False, True): "started", (True, True): "held", (True, False): "ended"}.get((was, now), "none")
        return PinchEvent(state, d, point)
