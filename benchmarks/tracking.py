"""Camera tracking benchmark: arkit's VisualTracker on real and synthetic data, with references.

Every figure of issue 3 in one run (switches skip parts):

1. RGB-D, 7-Scenes RedKitchen (300 real Kinect frames): arkit ``VisualTracker(mode="rgbd")`` vs
   Open3D's RGB-D odometry (``open3d.pipelines.odometry.compute_rgbd_odometry``, hybrid
   photometric + geometric term, chained frame to frame). ATE RMSE after SE(3) alignment, RPE.
2. RGB-D, small sets with given poses: ``slambook2_data/ch5/rgbd`` (5 real Kinect frames, poses
   from a reconstruction, 0.2-0.7 m and up to 25 deg between frames) and
   ``open3d_testdata_2019/RGBD`` (5 rendered ICL-NUIM frames, ``odometry.log``): RPE per frame
   pair (translation cm, rotation deg) and ATE for arkit and Open3D, speed ratio arkit/Open3D.
3. Monocular, KITTI odometry (51 frames, 1241x376): arkit ``VisualTracker(mode="mono")`` vs
   plain OpenCV frame-to-frame VO whose per-step translation is scaled by the ground-truth step
   length; both Sim(3)-aligned ATE.
4. Synthetic 640x480 (``arkit.synthetic``, exact ground truth, cached between runs): RGB-D ATE
   on ``textured_room``; monocular Sim(3) ATE on ``textured_room`` without depth; the
   ``turn_away`` path (RGB-D and monocular): frames from the camera's return to TRACKING and the
   error after it. Both use ``arkit.tracking.vslam.synthetic_eval`` (``run_monocular``,
   ``run_turn_away``: "returning" = the ground-truth view overlaps the map at the loss again)
   when it exists, else this script's own definitions (returning = the path's turn weight back
   to 0).
5. World alignment (:class:`arkit.tracking.world_alignment.WorldAlignedTracker`) around the
   monocular tracker on ``marker_room`` without depth: scale error against the Sim(3) scale of
   the raw trajectory, and gravity error, for scale from a marker / depth / recorded poses and
   gravity from the marker / floor / recorded poses / a simulated IMU / the floor in the monocular
   map; and scale + gravity from a 0.5 m image target on a generated poster_floor sequence.
6. Real monocular videos (opencv_samples_data): ``box.mp4`` (640x480, intrinsics of OpenCV's
   pose tutorial: fx=640*55/22.3, fy=480*55/14.9, cx=320, cy=240) and ``cup.mp4`` (640x480,
   approximate intrinsics: 60 deg horizontal field of view): state counts per frame, frames
   tracked after initialisation, frames where ``track`` raised instead of reporting a state.
7. Static camera, ``vtest.avi`` (768x576, people walking, approximate 60 deg intrinsics): the
   reported camera motion after initialisation, per frame: translation in map units (a
   monocular map's unit is the median scene depth of its first two views) and rotation (deg);
   median and max, and the largest distance from the first tracked position.

Speed: milliseconds per frame of the tracking call only (frames are decoded beforehand), both
methods in the same process, one after the other. The machine is shared, so compare ratios.
arkit rows also give the CPU time of the tracking thread alone (``time.thread_time``) and, with
``async_mapping``, the CPU the background local-mapping thread spent per frame.

Run: ``.venv/bin/python benchmarks/tracking.py [--frames N] [--no-rgbd] [--no-small-rgbd]
[--no-kitti] [--no-open3d] [--no-async] [--no-synthetic] [--no-mono-synthetic] [--no-turn-away]
[--no-alignment] [--no-videos] [--no-vtest] [--video-frames N] [--synthetic-frames N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

from arkit.core.pose import invert
from arkit.eval.trajectory import ate
from arkit.io.shared_data import shared_data_path
from arkit.io.trajectory_formats import Trajectory
from arkit.tracking.base import Tracker


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


def bench_synthetic(n_frames: int):
    frames, secs, _ = synthetic_frames("textured_room", n_frames)
    print(f"RGB-D synthetic textured_room, {len(frames)} frames 640x480 (ready in {secs:.0f} s), SE(3)-aligned ATE "
          f"(target <= 1 cm, no frame lost)")
    gt, ts = gt_of(frames)
    poses, states, t_ark, tracker = run_arkit(frames, "rgbd")
    line("arkit VisualTracker (rgbd)", ate_of(poses, gt, ts, "se3"), t_ark, arkit_extra(states, tracker))
    bench_synthetic_hard(n_frames)


def bench_synthetic_hard(n_frames: int):
    """The same room and path rendered with motion blur, auto-exposure drift and sensor noise."""
    import tempfile

    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.synthetic.generator import generate_sequence

    opts = dict(motion_blur=5, shutter=0.5, exposure_jitter=0.15, noise_std=2.0)
    t0 = time.perf_counter()
    folder = generate_sequence("textured_room", os.path.join(tempfile.mkdtemp(prefix="arkit-bench-"), "hard"),
                               num_frames=n_frames, width=640, height=480, **opts)
    frames = list(TumRgbdSource(folder))
    print(f"  same path with {', '.join(f'{k}={v}' for k, v in opts.items())} "
          f"(rendered in {time.perf_counter() - t0:.0f} s):")
    gt, ts = gt_of(frames)
    poses, states, t_ark, tracker = run_arkit(frames, "rgbd")
    line("arkit VisualTracker (rgbd)", ate_of(poses, gt, ts, "se3"), t_ark, arkit_extra(states, tracker))
    mono = [dataclasses.replace(f, depth_m=None) for f in frames]
    poses, states, t_ark, tracker = run_arkit(mono, "mono")
    ok = tracked_mask(states)
    if ok.sum() >= 3:
        first = int(np.argmax(ok))
        lost = sum(s == "LOST" for s in states[first:])
        line("arkit VisualTracker (mono, Sim(3))", ate_of(poses[ok], gt[ok], ts[ok], "sim3"), t_ark,
             f"initialised at frame {first}, LOST frames after init {lost}, " + arkit_extra(states, tracker))
    else:
        print(f"  arkit VisualTracker (mono): never initialised; states {state_counts(states)}")


def tracked_mask(states):
    return np.array([s in ("TRACKING", "LIMITED") for s in states])


def bench_mono_synthetic(n_frames: int):
    ev = _synthetic_eval()
    if ev is not None and hasattr(ev, "run_monocular"):
        r = ev.run_monocular("textured_room", num_frames=n_frames)
        print(f"Monocular synthetic textured_room (no depth), {r['n_frames']} frames 640x480 "
              f"(arkit.tracking.vslam.synthetic_eval.run_monocular; target <= 2 cm, no frame lost)")
        print(f"  arkit VisualTracker (mono)         Sim(3) ATE RMSE {100 * r['ate_rmse_m']:.2f} cm (max "
              f"{100 * r['ate_max_m']:.1f} cm) from initialisation at frame {r['init_frame']}; LOST frames after init "
              f"{r['lost_after_init']}; states {r['states']}; {r['cpu_ms_per_frame']:.0f} ms CPU/frame")
        frames, _, _ = synthetic_frames("textured_room", n_frames, depth=False)
        gt, ts = gt_of(frames)
        poses, states, t_ark, tracker = run_arkit(frames, "mono", async_mapping=True)
        ok = tracked_mask(states)
        if ok.sum() >= 3:
            first = int(np.argmax(ok))
            lost = sum(s == "LOST" for s in states[first:])
            line("arkit VisualTracker (mono, async BA)", ate_of(poses[ok], gt[ok], ts[ok], "sim3"), t_ark,
                 f"initialised at frame {first}, LOST frames after init {lost}, " + arkit_extra(states, tracker))
        return
    frames, secs, _ = synthetic_frames("textured_room", n_frames, depth=False)
    print(f"Monocular synthetic textured_room (no depth), {len(frames)} frames 640x480, Sim(3)-aligned ATE over "
          f"tracked frames (target <= 2 cm)")
    gt, ts = gt_of(frames)
    poses, states, t_ark, tracker = run_arkit(frames, "mono")
    ok = tracked_mask(states)
    if ok.sum() < 3:
        print(f"  arkit VisualTracker (mono): not initialised ({state_counts(states)})")
        return
    first = int(np.argmax(ok))
    line("arkit VisualTracker (mono)", ate_of(poses[ok], gt[ok], ts[ok], "sim3"), t_ark,
         f"initialised at frame {first}, tracked {int(ok.sum())}/{len(frames) - first} frames after init; "
         + arkit_extra(states, tracker))


def _turn_away_return_frame(folder, n_frames: int) -> tuple:
    """(first frame fully turned away, first frame back: turn weight 0 again after the away part)."""
    import json

    from arkit.synthetic.camera_paths import make_camera_path

    seq = json.loads((folder / "scene.json").read_text())["sequence"]      # the path the generator used
    fps = float(seq["fps"])
    path = make_camera_path(seq["camera_path"], duration_s=n_frames / fps, seed=int(seq["seed"]))
    w = path.turn_weight(np.arange(n_frames) / fps)
    away = np.flatnonzero(w > 0.999)
    back = np.flatnonzero((np.arange(n_frames) > away[-1]) & (w <= 1e-9)) if away.size else np.zeros(0, int)
    return (int(away[0]) if away.size else -1), (int(back[0]) if back.size else -1)


def turn_away_figures(name, poses, states, gt, ts, away0: int, back: int, align: str) -> None:
    """Print frames from the camera's return to re-tracking, and the pose error there."""
    st = np.array(states)
    pre = tracked_mask(states) & (np.arange(len(states)) < away0)
    counts = state_counts(states)
    if pre.sum() < 3:
        print(f"  {name}: not tracking before the turn ({counts})")
        return
    res = ate_of(poses[pre], gt[pre], ts[pre], align)      # alignment from the frames before the turn
    S = np.asarray(res.T_gt_est)
    P = poses.copy()
    P[:, :3, :] = np.einsum("ij,njk->nik", S[:3, :], poses)
    err = np.linalg.norm(P[:, :3, 3] - gt[:, :3, 3], axis=1)
    lost = np.flatnonzero(st[away0:] == "LOST")
    if lost.size == 0:
        after = np.arange(back, len(states)) if back >= 0 else np.zeros(0, int)
        e = f"{100 * np.median(err[after]):.1f} cm median error after the return" if after.size else ""
        print(f"  {name}: never LOST during the turn ({counts}); {e}")
        return
    first_lost = away0 + int(lost[0])
    re = [i for i in range(first_lost, len(states)) if st[i] == "TRACKING" and i >= back - 30]
    rel = next((i for i in re if all(st[j] != "LOST" for j in range(i, min(i + 5, len(st))))), None)
    if rel is None:
        print(f"  {name}: lost at frame {first_lost}, not relocalised by the last frame ({counts}); "
              f"return at frame {back}")
        return
    ok_after = tracked_mask(states) & (np.arange(len(states)) >= rel)
    print(f"  {name}: lost at frame {first_lost}, camera back at frame {back}, TRACKING again at frame {rel}: "
          f"{rel - back} frames after the return (target <= 10); position error there {100 * err[rel]:.1f} cm, "
          f"median {100 * np.median(err[ok_after]):.1f} cm over the {int(ok_after.sum())} tracked frames after; "
          f"states {counts}")


def _synthetic_eval():
    """H6's ``arkit.tracking.vslam.synthetic_eval`` (run_monocular, run_turn_away) when present."""
    try:
        from arkit.tracking.vslam import synthetic_eval
    except ImportError:
        return None
    return synthetic_eval if hasattr(synthetic_eval, "run_turn_away") else None


def bench_turn_away(n_frames: int):
    ev = _synthetic_eval()
    if ev is not None:
        print(f"Turn-away synthetic ({n_frames} frames 640x480), arkit.tracking.vslam.synthetic_eval.run_turn_away "
              f"(returning = map overlap back above 0.3; target: TRACKING within 10 frames of returning)")
        for mode in ("rgbd", "mono"):
            r = ev.run_turn_away(mode=mode, num_frames=n_frames)
            print(f"  arkit {mode}: init frame {r['init_frame']}, first LOST {r['loss_frame']}, left the map at "
                  f"{r['left_frame']}, returning at {r['returning_frame']}, relocalised at {r['relocalised_frame']}: "
                  f"frames to relocalise {r['frames_to_relocalise']}; position RMSE before the loss "
                  f"{100 * r['rmse_before_m']:.1f} cm, after relocalisation {100 * r['rmse_after_m']:.1f} cm "
                  f"(max {100 * r['max_after_m']:.1f}) in the alignment fitted before the loss; states {r['states']}; "
                  f"{r['cpu_ms_per_frame']:.0f} ms CPU/frame")
        return
    frames, secs, folder = synthetic_frames("turn_away", n_frames)
    away0, back = _turn_away_return_frame(folder, n_frames)
    print(f"Turn-away synthetic ({len(frames)} frames 640x480): fully turned away at frame {away0}, back at "
          f"frame {back}")
    gt, ts = gt_of(frames)
    poses, states, _, _ = run_arkit(frames, "rgbd")
    turn_away_figures("arkit rgbd", poses, states, gt, ts, away0, back, "se3")
    mono = [dataclasses.replace(f, depth_m=None) for f in frames]
    poses, states, _, _ = run_arkit(mono, "mono")
    turn_away_figures("arkit mono", poses, states, gt, ts, away0, back, "sim3")


POSTER_RECIPE = {   # a 0.5 m poster lying on a planked floor, for scale from an image target
    "name": "poster_floor", "seed": 3,
    "room": {"size": [4.0, 2.6, 4.0], "floor": {"type": "planks"}, "walls": {"type": "bricks"},
             "ceiling": {"type": "noise"}},
    "image_targets": [{"name": "floor_poster", "position": [0.0, 0.0, 0.0], "normal": [0, 1, 0], "yaw_deg": 20,
                       "width": 0.5, "height": 0.35, "texture": {"type": "poster"}}],
    "camera": {"type": "orbit", "target": [0.0, 0.0, 0.0], "distance_m": [0.7, 0.9],
               "elevation_deg": [50.0, 65.0], "speed_mps": 0.3},
}


def poster_sequence(n_frames: int):
    """Frames of :data:`POSTER_RECIPE` at 640x480 (rendered into a temporary folder) and an image
    target database built from the rendered poster texture and its true width."""
    import json
    import tempfile

    import cv2

    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.recognition.image_targets import ImageTargetDatabase
    from arkit.synthetic.generator import generate_sequence

    folder = os.path.join(tempfile.mkdtemp(prefix="arkit-bench-poster-"), "poster")
    generate_sequence(POSTER_RECIPE, folder, num_frames=n_frames, width=640, height=480, seed=0)
    (t,) = json.loads(open(os.path.join(folder, "scene.json")).read())["image_targets"]
    tex = cv2.cvtColor(cv2.imread(os.path.join(folder, "targets", f"{t['name']}.png")), cv2.COLOR_BGR2RGB)
    db = ImageTargetDatabase.build([(t["name"], tex, t["width_m"])])
    return list(TumRgbdSource(folder)), db


def bench_alignment(n_frames: int):
    """WorldAlignedTracker around the monocular tracker on marker_room and on a poster-on-the-floor
    sequence (depth withheld from the tracker; the depth source gets the frames with depth)."""
    frames, secs, _ = synthetic_frames("marker_room", n_frames)
    print(f"World alignment around VisualTracker(mono), 640x480, scale error vs the Sim(3) scale of the "
          f"unaligned trajectory, gravity error (targets < 2 %, < 2 deg)")
    print(f"  marker_room ({len(frames)} frames; 15 cm markers; IMU = simulated accelerometer, 1 deg noise):")
    rng = np.random.default_rng(0)

    def with_imu(f):   # simulated accelerometer gravity: camera-frame "down" with 1 deg noise
        g = f.T_world_camera_recorded[:3, :3].T @ np.array([0.0, -9.81, 0.0])
        from arkit.core.pose import rotvec_to_matrix

        return dataclasses.replace(f, meta={**f.meta, "gravity_camera": rotvec_to_matrix(
            rng.normal(0, np.radians(1.0), 3)) @ g})

    frames = [with_imu(f) for f in frames]
    for scale, gravity in [("marker", "marker"), ("depth", "floor"), ("recorded", "recorded"), ("marker", "imu"),
                           ("marker", "map_floor")]:
        _alignment_row(frames, scale, gravity, marker_size_m=0.15)
    poster, db = poster_sequence(min(n_frames, 120))
    print(f"  poster_floor ({len(poster)} frames; a 0.5 m image target lying on the floor):")
    _alignment_row(poster, "image_target", "image_target", image_targets=db)


def _alignment_row(frames, scale: str, gravity: str, **options) -> None:
    from arkit.tracking import scale_sources as ss
    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig
    from arkit.tracking.world_alignment import WorldAlignedTracker

    gt, ts = gt_of(frames)
    rec = _Recorder(VisualTracker(VisualTrackerConfig(mode="mono")))
    tr = WorldAlignedTracker(rec, scale=scale, gravity=gravity, **options)
    t0 = time.process_time()
    outs = [tr.track(f) for f in frames]          # mode="mono": the tracker itself ignores depth
    cpu_ms = 1000 * (time.process_time() - t0) / len(frames)
    tr.close()
    a = tr.alignment
    name = f"scale={scale}, gravity={gravity}"
    if a is None:
        print(f"    {name:<36} not aligned by the last frame ({tr.progress()})")
        return
    # at the lock: the same least-squares fit with the ground truth as the anchor, over the
    # frames the inner tracker tracked up to the lock (what a perfect source would give)
    inner = np.array(rec.poses)
    upto = np.array([s == "TRACKING" for s in rec.states]) & (np.arange(len(frames)) <= a.frame_index)
    smp = ss.AnchorSamples()
    for i in np.flatnonzero(upto):
        smp.add(i, inner[i], gt[i])
    R_gi = ss.anchor_rotation(smp)
    s_true = ss.fit_similarity(inner[upto, :3, 3], gt[upto, :3, 3], R_anchor_inner=R_gi).scale
    up_true = R_gi.T @ np.array([0.0, 1.0, 0.0])
    g_err = np.degrees(np.arccos(np.clip(up_true @ a.up_inner, -1, 1))) if a.up_inner is not None else float("nan")
    s_err = f"{100 * (a.scale / s_true - 1):+.2f} %" if a.scale_source else "n/a (no scale source)"
    # after the lock: the aligned output against the ground truth (includes the tracker's drift)
    P = np.array([o.camera.T_world_camera for o in outs])
    ok = np.array([o.camera.tracking_state.value in ("TRACKING", "LIMITED") for o in outs])
    ok &= np.arange(len(outs)) >= a.frame_index
    msg = ""
    if ok.sum() >= 3:
        res = ate_of(P[ok], gt[ok], ts[ok], "sim3")          # metric and +Y up: scale 1, no tilt
        R = np.asarray(res.T_gt_est)[:3, :3] / res.scale
        tilt = np.degrees(np.arccos(np.clip(R[1, 1], -1, 1)))
        se3 = ate_of(P[ok], gt[ok], ts[ok], "se3")
        msg = (f"; over the {int(ok.sum())} frames after it (tracker drift included): scale {100 * (1 / res.scale - 1):+.2f} %, "
               f"tilt {tilt:.2f} deg, metric SE(3) ATE {100 * se3.rmse_m:.2f} cm")
    print(f"    {name:<36} fixed at frame {a.frame_index} ({a.num_samples} samples, fit rms {100 * a.residual_m:.2f} cm): "
          f"scale error {s_err}, gravity error {g_err:.2f} deg{msg}; {cpu_ms:.0f} ms CPU/frame")


class _Recorder(Tracker):
    """Passes frames to a tracker and keeps its raw (unaligned) poses and states."""

    def __init__(self, inner):
        self.inner, self.poses, self.states = inner, [], []

    @property
    def map(self):               # the inner VisualTracker's point map (gravity from the map floor)
        return self.inner.map

    def track(self, frame):
        out = self.inner.track(frame)
        self.poses.append(np.asarray(out.camera.T_world_camera).copy())
        self.states.append(out.camera.tracking_state.value)
        return out

    def reset(self):
        self.inner.reset()

    def close(self):
        self.inner.close()


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


BOX_TUTORIAL_K = dict(width=640, height=480, fx=640 * 55 / 22.3, fy=480 * 55 / 14.9, cx=320.0, cy=240.0)
VIDEOS = {  # name: (path parts, intrinsics or None = 60 deg guess, note)
    "box.mp4": (("opencv_samples_data", "pose_box_tutorial", "box.mp4"), BOX_TUTORIAL_K, "pose-tutorial intrinsics"),
    "cup.mp4": (("opencv_samples_data", "video", "cup.mp4"), None, "approximate 60 deg intrinsics"),
    "vtest.avi": (("opencv_samples_data", "video", "vtest.avi"), None, "approximate 60 deg intrinsics"),
}


def video_frames(name: str, max_frames: int):
    import warnings

    from arkit.core.camera import Intrinsics
    from arkit.io.video_source import VideoFileSource

    parts, K, note = VIDEOS[name]
    path = shared_data_path(*parts)
    if path is None:
        return None, note
    K = Intrinsics(**K) if K else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # the 60 deg guess warns
        src = VideoFileSource(path, intrinsics=K)
        frames = []
        for f in src:
            if max_frames and len(frames) >= max_frames:
                break
            frames.append(f)
    return frames, note


def video_states_line(name, note, frames, states, tracker, times) -> np.ndarray:
    st = np.array(states)
    init = np.flatnonzero(np.isin(st, ["TRACKING", "LIMITED", "LOST"]))
    first = int(init[0]) if init.size else len(st)
    after = st[first:]
    tracked = int(np.isin(after, ["TRACKING", "LIMITED"]).sum())
    valid = int(np.isin(st, ["NOT_INITIALIZED", "TRACKING", "LIMITED", "LOST"]).sum())
    K = frames[0].intrinsics
    print(f"  {name} ({len(frames)} frames {frames[0].width}x{frames[0].height}, {note}: fx={K.fx:.0f} fy={K.fy:.0f}): "
          f"states {state_counts(states)}; a state reported on {valid}/{len(frames)} frames; initialised at frame "
          f"{first if init.size else 'never'}; tracked {tracked}/{len(after)} frames after init ({100 * tracked / max(len(after), 1):.1f} %); "
          f"tracking thread {tracker.thread_ms:.1f} ms CPU/frame, {1000 * np.mean(times[:, 0]):.1f} ms wall")
    for idx, err in tracker.errors[:3]:
        print(f"    frame {idx}: track() raised {err}")
    if len(tracker.errors) > 3:
        print(f"    ... {len(tracker.errors)} frames raised in total")
    return st


def bench_videos(max_frames: int):
    print("Real monocular videos: states on every frame (arkit VisualTracker(mode='mono'))")
    for name in ("box.mp4", "cup.mp4"):
        frames, note = video_frames(name, max_frames)
        if frames is None:
            print(f"  {name} not found; skipping")
            continue
        poses, states, times, tracker = run_arkit(frames, "mono")
        video_states_line(name, note, frames, states, tracker, times)


def static_motion(poses, states) -> dict:
    """Per-frame camera motion over consecutive tracked frames after initialisation (map units, deg)."""
    from arkit.eval.trajectory import rotation_angles_rad

    ok = tracked_mask(states)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return {}
    pairs = [(i, j) for i, j in zip(idx[:-1], idx[1:]) if j == i + 1]
    if not pairs:
        return {}
    i, j = np.array(pairs).T
    rel = np.einsum("nji,njk->nik", poses[i][:, :3, :3], poses[j][:, :3, :3])
    trans = np.linalg.norm(poses[j][:, :3, 3] - poses[i][:, :3, 3], axis=1)
    rot = np.degrees(rotation_angles_rad(rel))
    drift = np.linalg.norm(poses[idx][:, :3, 3] - poses[idx[0]][:3, 3], axis=1)
    return dict(n=len(pairs), t_med=np.median(trans), t_max=trans.max(), r_med=np.median(rot), r_max=rot.max(),
                drift=drift.max())


def bench_vtest(max_frames: int):
    frames, note = video_frames("vtest.avi", max_frames)
    if frames is None:
        print("vtest.avi not found; skipping the static-camera check")
        return
    print("Static camera, people walking (vtest.avi): reported camera motion must be near zero")
    poses, states, times, tracker = run_arkit(frames, "mono")
    video_states_line("vtest.avi", note, frames, states, tracker, times)
    m = static_motion(poses, states)
    if not m:
        why = (f"track() raised on {len(tracker.errors)} frames" if tracker.errors else
               "the tracker did not initialise a map from the static view (correct for a camera that does not move)")
        print(f"  no two consecutive tracked frames, so no reported motion: {why}")
        return
    print(f"  motion per frame over {m['n']} consecutive tracked pairs: translation median {m['t_med']:.4f}, "
          f"max {m['t_max']:.4f} map units (1 unit = median scene depth at init); rotation median "
          f"{m['r_med']:.3f} deg, max {m['r_max']:.3f} deg; largest distance from the first tracked position "
          f"{m['drift']:.4f} units")


def bench_small_rgbd(with_open3d: bool):
    """RPE and ATE on the two 5-frame RGB-D sets with given poses, arkit and Open3D."""
    from arkit.core.errors import TrajectoryError
    from arkit.eval.trajectory import rpe
    from arkit.io.sources import open_source

    for parts, label in ((("slambook2_data", "ch5", "rgbd"), "slambook2 ch5/rgbd (real Kinect)"),
                         (("open3d_testdata_2019", "RGBD"), "open3d_testdata_2019/RGBD (ICL-NUIM render)")):
        folder = shared_data_path(*parts)
        if folder is None:
            print(f"{'/'.join(parts)} not found; skipping")
            continue
        with open_source(folder) as src:
            frames = list(src)
            reader = type(src).__name__
        gt, ts = gt_of(frames)
        steps = [np.linalg.norm((invert(gt[i]) @ gt[i + 1])[:3, 3]) for i in range(len(gt) - 1)]
        print(f"RGB-D {label}: {len(frames)} frames via {reader}; ground-truth steps "
              f"{', '.join(f'{100 * x:.1f}' for x in steps)} cm; RPE per consecutive pair, SE(3)-aligned ATE")
        rows = []
        poses, states, t_ark, tracker = run_arkit(frames, "rgbd")
        rows.append(("arkit VisualTracker (rgbd)", poses, t_ark, f"states {state_counts(states)}"))
        if with_open3d:
            p_o3d, t_o3d, n_fail = run_open3d_rgbd(frames)
            rows.append(("Open3D RGB-D odometry (hybrid)", p_o3d, t_o3d, f"{n_fail} failed steps"))
        ms, ates = [], []
        for name, P, t, extra in rows:
            e, g = Trajectory(ts, P, "est"), Trajectory(ts, gt, "gt")
            r = rpe(e, g, delta=1, all_pairs=True)
            try:
                res, how = ate(e, g, align="se3"), ""
            except TrajectoryError:   # an estimate that never moved cannot be SE(3)-aligned
                res, how = ate(e, g, align="origin"), " (origin-aligned: the estimate does not move)"
            per = " ".join(f"{100 * a:.2f}/{b:.2f}" for a, b in zip(r.trans_errors_m, r.rot_errors_deg))
            ms.append(1000 * np.mean(np.asarray(t)[:, 0]))
            ates.append(res.rmse_m)
            print(f"  {name:<32} RPE trans mean {100 * r.trans_mean_m:.2f} cm (max {100 * r.trans_max_m:.2f}), rot mean "
                  f"{r.rot_mean_deg:.2f} deg (max {r.rot_max_deg:.2f}); ATE RMSE {100 * res.rmse_m:.2f} cm{how}; "
                  f"{ms[-1]:.1f} ms/frame wall; per pair cm/deg: {per}; {extra}")
        if len(ms) == 2:
            print(f"  ratio arkit/Open3D: ATE {ates[0] / max(ates[1], 1e-12):.2f}x, time {ms[0] / ms[1]:.2f}x "
                  f"(speed-up {ms[1] / ms[0]:.1f}x)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300, help="7-Scenes frames to use")
    ap.add_argument("--no-rgbd", action="store_true", help="skip 7-Scenes")
    ap.add_argument("--no-small-rgbd", action="store_true", help="skip slambook2 ch5 and open3d_testdata RGBD")
    ap.add_argument("--no-kitti", action="store_true")
    ap.add_argument("--no-open3d", action="store_true", help="skip the Open3D reference rows")
    ap.add_argument("--no-async", action="store_true", help="skip the async-mapping arkit row")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the synthetic RGB-D textured_room row")
    ap.add_argument("--synthetic", action="store_true", help=argparse.SUPPRESS)   # old switch; now the default
    ap.add_argument("--no-mono-synthetic", action="store_true", help="skip the monocular synthetic row")
    ap.add_argument("--no-turn-away", action="store_true", help="skip the turn-away relocalisation figures")
    ap.add_argument("--no-alignment", action="store_true", help="skip the scale/gravity alignment figures")
    ap.add_argument("--no-videos", action="store_true", help="skip box.mp4 and cup.mp4")
    ap.add_argument("--no-vtest", action="store_true", help="skip the static-camera vtest.avi check")
    ap.add_argument("--video-frames", type=int, default=0, help="frames per real video (0 = all)")
    ap.add_argument("--synthetic-frames", type=int, default=300, help="frames of each synthetic sequence")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (shared machine: compare ratios)")
    if not args.no_rgbd:
        bench_rgbd(args.frames, not args.no_open3d, not args.no_async)
    if not args.no_small_rgbd:
        bench_small_rgbd(not args.no_open3d)
    if not args.no_synthetic:
        bench_synthetic(args.synthetic_frames)
    if not args.no_mono_synthetic:
        bench_mono_synthetic(args.synthetic_frames)
    if not args.no_turn_away:
        bench_turn_away(max(args.synthetic_frames, 360))
    if not args.no_alignment:
        bench_alignment(min(args.synthetic_frames, 150))
    if not args.no_kitti:
        bench_mono(not args.no_open3d)
    if not args.no_videos:
        bench_videos(args.video_frames)
    if not args.no_vtest:
        bench_vtest(args.video_frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
