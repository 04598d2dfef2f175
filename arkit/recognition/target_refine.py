"""Sub-pixel refinement of a target homography by aligning the warped target to the frame.

Feature keypoints (ORB in particular) sit on a coarse pyramid grid, so a homography fitted to
them is off by about a pixel. Here the target image is warped into the frame with the current
homography, corner features of the warped image are followed into the frame with Lucas-Kanade
optical flow (displacements of a few pixels), and the homography is re-fitted from the fixed
target coordinates of those points. Two rounds bring synthetic corner errors from ~1 px to a
few tenths.
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.recognition.target_pose import apply_homography, corners_target_px

log = logging.getLogger(__name__)


def refine_homography(target_gray: np.ndarray, frame_gray: np.ndarray, H: np.ndarray, rounds: int = 2,
                      n_points: int = 200, min_points: int = 20, seed: int = 0):
    """Refine ``H`` (target px -> frame px) by direct alignment.

    Parameters
    ----------
    target_gray : (h, w) uint8
    frame_gray : (H, W) uint8
    H : (3, 3) float64
    rounds : int
    n_points : int
        Corner features followed per round.
    min_points : int
        Fewer surviving points than this keeps the input homography.

    Returns
    -------
    H_refined : (3, 3) float64
    points_target_px, points_frame_px : (K, 2) float32
        The final inlier correspondences (empty when refinement was not possible).
    """
    import cv2

    from arkit.recognition.target_pose import robust_homography

    h_t, w_t = target_gray.shape
    Hf, Wf = frame_gray.shape
    best = (np.asarray(H, np.float64), np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32))
    for _ in range(max(1, rounds)):
        Hc = best[0]
        corners = apply_homography(Hc, corners_target_px(w_t, h_t))
        x0, y0 = np.floor(np.clip(corners.min(axis=0) - 8, 0, [Wf - 1, Hf - 1])).astype(int)
        x1, y1 = np.ceil(np.clip(corners.max(axis=0) + 8, 0, [Wf - 1, Hf - 1])).astype(int)
        if x1 - x0 < 24 or y1 - y0 < 24:
            return best
        shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
        Hroi = shift @ Hc
        size = (int(x1 - x0 + 1), int(y1 - y0 + 1))
        warped = cv2.warpPerspective(target_gray, Hroi, size, flags=cv2.INTER_LINEAR)
        valid = cv2.warpPerspective(np.full_like(target_gray, 255), Hroi, size, flags=cv2.INTER_NEAREST)
        valid = cv2.erode(valid, np.ones((11, 11), np.uint8))
        roi = np.ascontiguousarray(frame_gray[y0:y1 + 1, x0:x1 + 1])
        p0 = cv2.goodFeaturesToTrack(warped, n_points, 0.01, 6, mask=valid, blockSize=5)
        if p0 is None or len(p0) < min_points:
            return best
        p1, st, err = cv2.calcOpticalFlowPyrLK(
            warped, roi, p0, None, winSize=(15, 15), maxLevel=2,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
        ok = st.ravel() == 1
        if ok.sum() < min_points:
            return best
        pts_roi0 = p0.reshape(-1, 2)[ok].astype(np.float64)
        pts_frame = p1.reshape(-1, 2)[ok].astype(np.float64) + [x0, y0]
        pts_target = apply_homography(np.linalg.inv(Hroi), pts_roi0)
        H_new, inl = robust_homography(pts_target, pts_frame, threshold_px=1.5, seed=seed)
        if H_new is None or inl.sum() < max(min_points, 0.5 * ok.sum()):
            log.debug("homography refinement rejected (%d of %d inliers)", int(inl.sum()), int(ok.sum()))
            return best
        best = (H_new, pts_target[inl].astype(np.float32), pts_frame[inl].astype(np.float32))
    return best

