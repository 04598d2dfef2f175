"""Image-target recognition: feature-type comparison, detection cost vs database size,
steady-state tracking FPS and synthetic accuracy. Prints figures and ratios (no assertions).

    .venv/bin/python benchmarks/recognition.py [--quick]

Timings on a shared machine are noisy: compare the ratios printed within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import rotation_angle_deg
from arkit.recognition.image_targets import ImageTargetDatabase
from arkit.recognition.synthetic_targets import look_at_target, random_texture, render_target
from arkit.recognition.target_pose import apply_homography, corners_target_px
from arkit.recognition.target_tracking import ImageTargetTracker

K = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)


_CPU_MS = []  # CPU time of the last _ms call (less sensitive to other processes than wall time)


def _ms(fn, repeat=3):
    """Run ``fn`` ``repeat`` times; return its output and the median wall-clock milliseconds."""
    wall, cpu = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        wall.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.process_time() - c) * 1000.0)
    _CPU_MS[:] = [float(np.median(cpu))]
    return out, float(np.median(wall))


def _random_pose(rng):
    return look_at_target(rng.uniform(0.3, 0.7), tilt_deg=rng.uniform(0, 50), tilt_axis_deg=rng.uniform(0, 360),
                          roll_deg=rng.uniform(-45, 45), offset_m=rng.uniform(-0.04, 0.04, 2))


def synthetic_cases(n, seed=0):
    rng = np.random.default_rng(seed)
    target = random_texture(rng, 480, 360)
    cases = []
    for _ in range(n):
        T = _random_pose(rng)
        frame, H = render_target(target, 0.2, T, K.K, random_texture(rng, 640, 480, 200))
        cases.append((frame, T, apply_homography(H, corners_target_px(480, 360))))
    return target, cases


def feature_comparison(n_synth):
    import cv2

    from arkit.io.shared_data import shared_data_path

    print("\n== feature types (detection = features + matching + USAC-MAGSAC + PnP) ==")
    folder = shared_data_path("opencv_samples_data", "features_homography")
    target, cases = synthetic_cases(n_synth, seed=1)
    rows = []
    for ft in ("orb", "akaze", "sift"):
        db = ImageTargetDatabase.build([("t", target, 0.2)], feature_type=ft)
        for refine in (False, True):
            db.refine = refine
            errs, rots, ms, found = [], [], [], 0
            for frame, T, gt in cases:
                dets, t_ms = _ms(lambda: db.detect(frame, K), repeat=1)
                ms.append(t_ms)
                if dets:
                    found += 1
                    errs.append(np.median(np.linalg.norm(dets[0].corners_px - gt, axis=1)))
                    rots.append(rotation_angle_deg(dets[0].T_camera_target, T))
            label = "refined " if refine else "features"
            print(f"  {ft:5s} {label} synthetic: found {found}/{len(cases)}, corner err median {np.median(errs):.3f} px "
                  f"(p90 {np.percentile(errs, 90):.3f}), rotation err median {np.median(rots):.3f} deg "
                  f"(max {np.max(rots):.3f}), {np.median(ms):6.1f} ms/frame")
        real = "n/a (no shared data)"
        if folder is not None:
            box = cv2.cvtColor(cv2.imread(str(folder / "box.png")), cv2.COLOR_BGR2RGB)
            scene = cv2.cvtColor(cv2.imread(str(folder / "box_in_scene.png")), cv2.COLOR_BGR2RGB)
            bdb = ImageTargetDatabase.build([("box", box, 0.12)], feature_type=ft, target_size_px=max(box.shape[:2]))
            d, t_ms = _ms(lambda: bdb.detect(scene))
            real = (f"{d[0].n_inliers:3d} feature inliers / {d[0].n_matches:3d} matches, "
                    f"{len(d[0].inliers_target_px):3d} points after alignment, {t_ms:6.1f} ms" if d else "NOT FOUND")
            rows.append((ft, d[0].corners_px if d else None))
        print(f"  {ft:5s} box_in_scene (real photo): {real}")
    if len(rows) == 3 and all(c is not None for _, c in rows):
        ref = rows[2][1]
        for ft, c in rows[:2]:
            print(f"  box_in_scene corner distance {ft} vs sift: max {np.max(np.linalg.norm(c - ref, axis=1)):.1f} px")


def detection_scaling(counts):
    print("\n== detection cost vs database size (ORB, 640x480) ==")
    rng = np.random.default_rng(5)
    textures = [random_texture(rng, 480, 360, 100) for _ in range(max(counts))]
    T = look_at_target(0.45, tilt_deg=25, tilt_axis_deg=30)
    frame, _ = render_target(textures[0], 0.2, T, K.K, random_texture(rng, 640, 480, 200))
    base = None
    for n in counts:
        for index in ("auto", "brute", "flann") if n == max(counts) else ("auto",):
            db = ImageTargetDatabase.build([(f"t{i}", textures[i], 0.2) for i in range(n)], index=index)
            db.detect(frame, K)  # warm-up
            dets, ms = _ms(lambda: db.detect(frame, K), repeat=5)
            cpu = _CPU_MS[0]
            base = base or (ms, cpu)
            ok = bool(dets) and dets[0].name == "t0"
            print(f"  {n:3d} targets ({db.index.size:6d} descriptors, index {db.index.kind:5s}): {ms:6.1f} ms wall "
                  f"({ms / base[0]:4.2f}x 1 target), {cpu:6.1f} ms CPU ({cpu / base[1]:4.2f}x), correct={ok}")


def tracking(n_frames):
    print("\n== steady-state tracking at 640x480 ==")
    rng = np.random.default_rng(2)
    target = random_texture(rng, 480, 360)
    background = random_texture(rng, 640, 480, 200)
    db = ImageTargetDatabase.build([("t", target, 0.2)])
    frames = []
    for i in range(n_frames):
        T = look_at_target(0.45 + 0.1 * np.sin(i / 10), tilt_deg=20 + 10 * np.sin(i / 7), tilt_axis_deg=3 * i,
                           roll_deg=0.5 * i, offset_m=(0.03 * np.sin(i / 9), 0.02 * np.cos(i / 11)))
        fr, H = render_target(target, 0.2, T, K.K, background)
        frames.append((fr, T, apply_homography(H, corners_target_px(480, 360))))
    det = [_ms(lambda: db.detect(f, K), repeat=1)[1] for f, _, _ in frames[:10]]
    det_ms = float(np.median(det))
    configs = [("default (align every 5 frames)", {}), ("forward-backward LK check", {"forward_backward": True}),
               ("no re-alignment (pure LK)", {"align_interval": 0})]
    for name, kw in configs:
        tracker = ImageTargetTracker(db, **kw)
        ms, cpu, track_ms, errs, rots = [], [], [], [], []
        for fr, T, gt in frames:
            out, t_ms = _ms(lambda: tracker.process(fr, K), repeat=1)
            ms.append(t_ms)
            if not out.detected:
                track_ms.append(t_ms)
                cpu.append(_CPU_MS[0])
            tk = out.trackables[0] if out.trackables else None
            if tk is not None and tk.image_points_px is not None:
                errs.append(np.median(np.linalg.norm(tk.image_points_px - gt, axis=1)))
                rots.append(rotation_angle_deg(tk.T_world_local, T))
        t_med = float(np.median(track_ms))
        print(f"  {name}: tracked {len(errs)}/{n_frames} frames, corner err median {np.median(errs):.3f} px "
              f"(max {np.max(errs):.3f}), rotation err median {np.median(rots):.3f} deg (max {np.max(rots):.3f})")
        t_mean = float(np.mean(track_ms))
        print(f"    steady state (frames without detection, re-alignment frames included): median {t_med:5.1f} ms "
              f"({1000 / t_med:4.0f} FPS), mean {t_mean:5.1f} ms ({1000 / t_mean:4.0f} FPS) wall, "
              f"{np.mean(cpu):5.1f} ms CPU mean; all frames incl. detection mean {np.mean(ms):5.1f} ms")
        print(f"    detection alone {det_ms:5.1f} ms wall -> steady-state tracking is {det_ms / t_mean:.1f}x cheaper")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames (smoke run)")
    args = ap.parse_args()
    feature_comparison(6 if args.quick else 20)
    detection_scaling((1, 10) if args.quick else (1, 10, 50))
    tracking(30 if args.quick else 120)


if __name__ == "__main__":
    main()
