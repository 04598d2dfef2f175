"""Shared pieces of benchmarks/tracking.py: running arkit and the references, ATE, row printing, synthetic frames."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from arkit.core.pose import invert
from arkit.eval.trajectory import ate
from arkit.io.trajectory_formats import Trajectory


RAISED = "RAISED"   # state recorded when track() raised instead of reporting a state


def _where(e: Exception) -> str:
    """``Type at file:line (code): message`` of the innermost arkit frame of an exception."""
    import traceback

    tb = [fr for fr in traceback.extract_tb(e.__traceback__) if "/arkit/" in fr.filename] or \
        traceback.extract_tb(e.__traceback__)
    fr = tb[-1]
    msg = " ".join(str(e).split())
    return f"{type(e).__name__} at {'/'.join(fr.filename.split('/')[-3:])}:{fr.lineno} ({fr.line}): {msg[-110:]}"


def run_arkit(frames, mode: str, tracker=None, **cfg):
    """Track ``frames``; returns poses (N, 4, 4), state names (``RAISED`` where ``track`` raised),
    (N, 2) wall/CPU seconds and the tracker (with ``thread_ms``, ``mapping_ms``, ``errors``)."""
    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

    tracker = tracker or VisualTracker(VisualTrackerConfig(mode=mode, **cfg))
    poses, states, times, thread_s, errors = [], [], [], 0.0, []
    last = np.eye(4)
    for f in frames:
        t0, c0, h0 = time.perf_counter(), time.process_time(), time.thread_time()
        try:
            out = tracker.track(f)
        except Exception as e:  # noqa: BLE001 - a tracker must not raise; count it and go on
            out = None
            errors.append((f.index, _where(e)))
        thread_s += time.thread_time() - h0
        times.append((time.perf_counter() - t0, time.process_time() - c0))
        if out is not None:
            last = out.camera.T_world_camera.copy()
        poses.append(last)
        states.append(out.camera.tracking_state.value if out is not None else RAISED)
    tracker.errors = errors
    tracker.wait_for_mapping()
    tracker.thread_ms = 1000 * thread_s / len(frames)          # tracking thread CPU per frame
    tracker.mapping_ms = 1000 * getattr(tracker, "inner", tracker).mapping_cpu_s / len(frames)
    tracker.close()
    return np.array(poses), states, np.array(times), tracker


def state_counts(states) -> dict:
    return {s: states.count(s) for s in sorted(set(states))}


def arkit_extra(states, tracker) -> str:
    inner = getattr(tracker, "inner", tracker)
    return (f"tracking thread {tracker.thread_ms:.1f} ms CPU ({1000 / max(tracker.thread_ms, 1e-9):.0f} FPS), "
            f"mapping thread {tracker.mapping_ms:.1f} ms CPU/frame, states {state_counts(states)}, "
            f"{len(inner.map.keyframes)} keyframes, {len(inner.map)} points")


def run_open3d_rgbd(frames):
    import open3d as o3d

    K = frames[0].intrinsics
    intr = o3d.camera.PinholeCameraIntrinsic(K.width, K.height, K.fx, K.fy, K.cx, K.cy)
    odo = o3d.pipelines.odometry
    option = odo.OdometryOption()
    jac = odo.RGBDOdometryJacobianFromHybridTerm()
    poses, times, n_fail = [np.eye(4)], [], 0
    prev = None
    for f in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(f.image_rgb)), o3d.geometry.Image(np.ascontiguousarray(f.depth_m)),
            depth_scale=1.0, depth_trunc=4.0, convert_rgb_to_intensity=True)
        if prev is not None:
            ok, T_prev_cur, _ = odo.compute_rgbd_odometry(rgbd, prev, intr, np.eye(4), jac, option)
            if not ok:
                n_fail += 1
                T_prev_cur = np.eye(4)
            poses.append(poses[-1] @ T_prev_cur)
        prev = rgbd
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return np.array(poses), np.array(times), n_fail


def run_opencv_mono(frames, gt_T):
    import cv2

    K = frames[0].intrinsics.K
    orb = cv2.ORB_create(2000)
    bf = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    cv2.setRNGSeed(0)
    poses, times = [np.eye(4)], []
    prev = None
    for i, f in enumerate(frames):
        t0, c0 = time.perf_counter(), time.process_time()
        kp, des = orb.detectAndCompute(f.gray, None)
        if prev is not None:
            kp0, des0 = prev
            T_prev_cur = np.eye(4)
            if des is not None and des0 is not None:
                m = bf.match(des0, des)
                p0 = np.float64([kp0[x.queryIdx].pt for x in m])
                p1 = np.float64([kp[x.trainIdx].pt for x in m])
                if len(m) >= 8:
                    E, mask = cv2.findEssentialMat(p0, p1, K, cv2.RANSAC, 0.999, 1.0)
                    if E is not None and E.shape == (3, 3):
                        _, R, t, _ = cv2.recoverPose(E, p0, p1, K, mask=mask)
                        step = np.linalg.norm((invert(gt_T[i - 1]) @ gt_T[i])[:3, 3])  # scale from ground truth
                        T_cur_prev = np.eye(4)
                        T_cur_prev[:3, :3], T_cur_prev[:3, 3] = R, t.ravel() * step
                        T_prev_cur = invert(T_cur_prev)
            poses.append(poses[-1] @ T_prev_cur)
        prev = (kp, des)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return np.array(poses), np.array(times)


def ate_of(poses, gt_T, ts, align):
    return ate(Trajectory(ts, poses, "est"), Trajectory(ts, gt_T, "gt"), align=align)


def line(name, res, times, extra=""):
    """Print one result row; ``times`` is (N, 2): wall and process-CPU seconds per frame.

    Returns wall ms/frame. CPU time is printed too: it is less sensitive to other users of a
    shared machine (but counts every thread, so multi-threaded libraries are charged in full)."""
    times = np.asarray(times, dtype=np.float64).reshape(-1, 2)
    ms, cpu_ms = 1000 * times.mean(axis=0)
    print(f"  {name:<34} ATE RMSE {res.rmse_m * 100:7.2f} cm (max {res.max_m * 100:6.1f} cm)   "
          f"{ms:6.1f} ms/frame wall ({1000 / ms:5.1f} FPS), {cpu_ms:6.1f} ms CPU  {extra}")
    return ms


def synthetic_frames(recipe: str, n_frames: int, depth: bool = True):
    """Frames of a built-in recipe at 640x480 (rendered once, then cached), optionally without depth."""
    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.synthetic import ensure_builtin_sequence

    t0 = time.perf_counter()
    folder = ensure_builtin_sequence(recipe, num_frames=n_frames, width=640, height=480)
    frames = list(TumRgbdSource(folder))
    if not depth:
        frames = [dataclasses.replace(f, depth_m=None) for f in frames]
    return frames, time.perf_counter() - t0, folder


def gt_of(frames):
    return (np.array([f.T_world_camera_recorded for f in frames]), np.array([f.timestamp_s for f in frames]))


def tracked_mask(states):
    return np.array([s in ("TRACKING", "LIMITED") for s in states])
