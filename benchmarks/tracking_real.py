"""Real-data sections of benchmarks/tracking.py: 7-Scenes, slambook2 and open3d_testdata RGB-D, KITTI, box/cup videos, vtest.avi."""

from __future__ import annotations


import numpy as np

from arkit.core.pose import invert
from arkit.eval.trajectory import ate
from arkit.io.shared_data import shared_data_path
from arkit.io.trajectory_formats import Trajectory

from tracking_common import run_arkit, state_counts, arkit_extra, run_open3d_rgbd, run_opencv_mono, ate_of, line, gt_of, tracked_mask


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
