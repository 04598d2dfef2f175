"""Camera tracking benchmark on real data: arkit's VisualTracker against reference odometry.

1. RGB-D, 7-Scenes RedKitchen (300 real Kinect frames): arkit ``VisualTracker(mode="rgbd")`` vs
   Open3D's RGB-D odometry (``open3d.pipelines.odometry.compute_rgbd_odometry``, hybrid
   photometric + geometric term, chained frame to frame). ATE RMSE after SE(3) alignment.
2. Monocular, KITTI odometry (51 frames, 1241x376): arkit ``VisualTracker(mode="mono")`` vs
   plain OpenCV frame-to-frame VO (ORB matches, ``cv2.findEssentialMat`` + ``cv2.recoverPose``)
   whose per-step translation is scaled by the ground-truth step length (it cannot know scale
   otherwise); both evaluated with ATE RMSE after Sim(3) alignment.

3. RGB-D on a synthetic sequence (``arkit.synthetic`` recipe ``textured_room``, exact depth and
   poses; ``--synthetic``), arkit only.

Speed: milliseconds per frame of the tracking call only (frames are decoded beforehand), both
methods in the same process, one after the other. The machine is shared, so compare ratios.
arkit rows also give the CPU time of the tracking thread alone (``time.thread_time``) and, with
``async_mapping``, the CPU the background local-mapping thread spent per frame.

Run: ``.venv/bin/python benchmarks/tracking.py [--frames N] [--no-kitti] [--no-open3d] [--no-rgbd]
[--no-async] [--synthetic]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from arkit.core.pose import invert
from arkit.eval.trajectory import ate
from arkit.io.shared_data import shared_data_path
from arkit.io.trajectory_formats import Trajectory


def run_arkit(frames, mode: str, **cfg):
    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

    tracker = VisualTracker(VisualTrackerConfig(mode=mode, **cfg))
    poses, states, times, thread_s = [], [], [], 0.0
    for f in frames:
        t0, c0, h0 = time.perf_counter(), time.process_time(), time.thread_time()
        out = tracker.track(f)
        thread_s += time.thread_time() - h0
        times.append((time.perf_counter() - t0, time.process_time() - c0))
        poses.append(out.camera.T_world_camera.copy())
        states.append(out.camera.tracking_state.value)
    tracker.wait_for_mapping()
    tracker.thread_ms = 1000 * thread_s / len(frames)          # tracking thread CPU per frame
    tracker.mapping_ms = 1000 * tracker.mapping_cpu_s / len(frames)
    tracker.close()
    return np.array(poses), states, np.array(times), tracker


def arkit_extra(states, tracker) -> str:
    counts = {s: states.count(s) for s in sorted(set(states))}
    return (f"tracking thread {tracker.thread_ms:.1f} ms CPU ({1000 / max(tracker.thread_ms, 1e-9):.0f} FPS), "
            f"mapping thread {tracker.mapping_ms:.1f} ms CPU/frame, states {counts}, "
            f"{len(tracker.map.keyframes)} keyframes, {len(tracker.map)} points")


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


def bench_rgbd(n_frames: int, with_open3d: bool, with_async: bool = True):
    from arkit.io.readers.sevenscenes import SevenScenesSource

    folder = shared_data_path("sevenscenes_redkitchen_a")
    if folder is None:
        print("sevenscenes_redkitchen_a not found (set ARKIT_SHARED_DATA); skipping RGB-D")
        return
    frames = list(SevenScenesSource(folder, stop=n_frames))
    gt = np.array([f.T_world_camera_recorded for f in frames])
    ts = np.array([f.timestamp_s for f in frames])
    print(f"RGB-D: 7-Scenes RedKitchen, {len(frames)} frames {frames[0].width}x{frames[0].height}, SE(3)-aligned ATE")
    poses, states, t_ark, tracker = run_arkit(frames, "rgbd")
    res = ate_of(poses, gt, ts, "se3")
    ms_a = line("arkit VisualTracker (rgbd)", res, t_ark, arkit_extra(states, tracker))
    if with_async:
        poses, states, t_as, tracker = run_arkit(frames, "rgbd", async_mapping=True)
        line("arkit VisualTracker (rgbd, async BA)", ate_of(poses, gt, ts, "se3"), t_as, arkit_extra(states, tracker))
    if with_open3d:
        p_o3d, t_o3d, n_fail = run_open3d_rgbd(frames)
        res_o = ate_of(p_o3d, gt, ts, "se3")
        ms_o = line("Open3D RGB-D odometry (hybrid)", res_o, t_o3d, f"{n_fail} failed steps")
        print(f"  ratio arkit/Open3D: ATE {res.rmse_m / res_o.rmse_m:.2f}x, time {ms_a / ms_o:.2f}x "
              f"(speed-up {ms_o / ms_a:.2f}x)")


def bench_synthetic(n_frames: int = 120):
    import tempfile

    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.synthetic import generate_sequence

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = generate_sequence("textured_room", os.path.join(tmp, "room"), num_frames=n_frames, width=640, height=480)
        frames = list(TumRgbdSource(folder))
        print(f"RGB-D synthetic textured_room, {len(frames)} frames 640x480 (rendered in "
              f"{time.perf_counter() - t0:.0f} s), SE(3)-aligned ATE")
    gt = np.array([f.T_world_camera_recorded for f in frames])
    ts = np.array([f.timestamp_s for f in frames])
    poses, states, t_ark, tracker = run_arkit(frames, "rgbd")
    line("arkit VisualTracker (rgbd)", ate_of(poses, gt, ts, "se3"), t_ark, arkit_extra(states, tracker))


def bench_mono(with_reference: bool):
    from arkit.io.readers.kitti import KittiOdometrySource

    folder = shared_data_path("kitti_vo_seq2")
    if folder is None:
        print("kitti_vo_seq2 not found; skipping monocular")
        return
    frames = list(KittiOdometrySource(folder))
    gt = np.array([f.T_world_camera_recorded for f in frames])
    ts = np.array([f.timestamp_s for f in frames])
    print(f"Monocular: KITTI, {len(frames)} frames {frames[0].width}x{frames[0].height}, Sim(3)-aligned ATE")
    poses, states, t_ark, tracker = run_arkit(frames, "mono")
    tracked = np.array([s in ("TRACKING", "LIMITED") for s in states])
    counts = {s: states.count(s) for s in sorted(set(states))}
    if tracked.sum() >= 3:
        res = ate_of(poses[tracked], gt[tracked], ts[tracked], "sim3")
        ms_a = line("arkit VisualTracker (mono)", res, t_ark,
                    f"states {counts}, ATE over {int(tracked.sum())} tracked frames")
    else:
        res = None
        print(f"  arkit VisualTracker (mono): not initialised ({counts})")
    if with_reference:
        p_cv, t_cv = run_opencv_mono(frames, gt)
        sel = tracked if tracked.sum() >= 3 else np.ones(len(frames), bool)
        res_c = ate_of(p_cv[sel], gt[sel], ts[sel], "sim3")
        ms_c = line("OpenCV E-matrix VO (GT step scale)", res_c, t_cv, "same frames")
        if res is not None:
            print(f"  ratio arkit/OpenCV: ATE {res.rmse_m / res_c.rmse_m:.2f}x, time {ms_a / ms_c:.2f}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300, help="7-Scenes frames to use")
    ap.add_argument("--no-kitti", action="store_true")
    ap.add_argument("--no-open3d", action="store_true")
    ap.add_argument("--no-rgbd", action="store_true")
    ap.add_argument("--no-async", action="store_true", help="skip the async-mapping arkit row")
    ap.add_argument("--synthetic", action="store_true", help="also render and track textured_room (120 frames)")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (shared machine: compare ratios)")
    if not args.no_rgbd:
        bench_rgbd(args.frames, not args.no_open3d, not args.no_async)
    if args.synthetic:
        bench_synthetic()
    if not args.no_kitti:
        bench_mono(True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
