"""Synthetic sections of benchmarks/tracking.py: RGB-D and monocular textured_room (also blurred), turn-away relocalisation, world alignment."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from arkit.tracking.base import Tracker

from tracking_common import run_arkit, state_counts, arkit_extra, ate_of, line, synthetic_frames, gt_of, tracked_mask


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
    print("World alignment around VisualTracker(mono), 640x480, scale error vs the Sim(3) scale of the "
          "unaligned trajectory, gravity error (targets < 2 %, < 2 deg)")
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
