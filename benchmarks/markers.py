"""Marker tracking speed and accuracy on synthetic 640x480 frames with exact ground truth.

Run: ``.venv/bin/python benchmarks/markers.py [--views 120] [--repeats 20]``

Prints
- ms per frame for detection + pose (1 marker; a 5x7 GridBoard), arkit vs plain OpenCV
  (``ArucoDetector.detectMarkers`` + ``solvePnP(IPPE_SQUARE)`` per marker) in the same process;
- ms per frame of the marker_cube sample's tracker (``preset="fast"`` detector parameters) on the
  built-in marker_room sequence, vs the same tracker with default detector parameters;
- single-marker accuracy per distance bin (median / 95th percentile): translation of the marker
  in the camera, camera position in the marker's world, rotation; for each corner refinement
  and for the ``fast`` detector preset;
- joint board pose accuracy;
- MarkerTracker accuracy on sequences rendered by ``arkit.synthetic`` (when available).
Frames are rendered by :func:`arkit.tracking.marker_map.render_markers` (exact homography,
4x supersampling, Gaussian noise sigma 1 grey level).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import from_rt, invert, rotation_angle_deg, rotvec_to_matrix
from arkit.tracking.marker_map import MarkerMap
from arkit.tracking.markers import MarkerDetector, estimate_marker_pose, get_dictionary

INTR = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
BINS_M = [(0.3, 0.6), (0.6, 0.9), (0.9, 1.2), (1.2, 1.5)]


def look_at(distance_m, tilt_deg, azimuth_deg, roll_deg, target):
    th, ph = np.radians(tilt_deg), np.radians(azimuth_deg)
    c = target + distance_m * np.array([np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph)])
    z = (target - c) / np.linalg.norm(target - c)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    return from_rt(np.stack([x, np.cross(z, x), z], axis=1) @ rotvec_to_matrix([0, 0, np.radians(roll_deg)]), c)


def random_view(rng, size_m, lo=0.3, hi=1.5):
    d = rng.uniform(lo, hi)
    target = rng.uniform(-0.3, 0.3, 3) * size_m * np.array([1.0, 0.0, 1.0])
    return d, look_at(d, rng.uniform(0, 55), rng.uniform(0, 360), rng.uniform(-30, 30), target)


def opencv_reference(gray, size_m):
    """Plain OpenCV: detect (sub-pixel corners) and IPPE per marker."""
    p = cv2.aruco.DetectorParameters()
    p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    det = cv2.aruco.ArucoDetector(get_dictionary("DICT_6X6_250"), p)
    h = size_m / 2
    obj = np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]])

    def run():
        corners, ids, _ = det.detectMarkers(gray)
        for c in corners:
            cv2.solvePnP(obj, c.reshape(4, 2), INTR.K, INTR.dist_coeffs, flags=cv2.SOLVEPNP_IPPE_SQUARE)
    return run


def time_ms(fn, repeats):
    fn()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(t))


def bench_speed(repeats):
    print("== speed: ms per 640x480 frame (median of %d; machine is shared, compare ratios)" % repeats)
    rng = np.random.default_rng(0)
    single = MarkerMap.single(7, 0.1, "DICT_6X6_250")
    board = MarkerMap.grid_board(5, 7, 0.04, 0.01, "DICT_6X6_250")
    centre = board.object_points(list(board.ids)).mean(axis=0)
    scenes = [("1 marker", single, look_at(0.6, 30, 200, 10, np.zeros(3)), 0.1),
              ("5x7 board", board, look_at(0.7, 25, 250, 5, centre), 0.04)]
    for name, m, T, size in scenes:
        img = m.render(T, INTR, noise_std=1.0, seed=int(rng.integers(1000)))
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        ref = time_ms(opencv_reference(gray, size), repeats)
        row = [f"{name:10s} opencv detect+IPPE {ref:7.2f}"]
        for refine, preset in (("subpix", "default"), ("lines", "default"), ("lines", "fast")):
            det = MarkerDetector(refine=refine, preset=preset)
            if len(m) == 1:
                fn = lambda: [estimate_marker_pose(d.corners_px, size, INTR) for d in det.detect(img, INTR)]  # noqa: E731
            else:
                fn = lambda: m.estimate_camera_pose(det.detect(img, INTR), INTR)  # noqa: E731
            ms = time_ms(fn, repeats)
            row.append(f"arkit[{_label(refine, preset)}] {ms:7.2f} (x{ms / ref:.2f})")
        print("  " + "   ".join(row) + ("   (arkit board = joint pose)" if len(m) > 1 else ""))


def _label(refine, preset):
    return refine if preset == "default" else f"{refine},{preset}"


def bench_single_accuracy(n_views, sizes=(0.05, 0.10),
                          cases=(("subpix", "default"), ("apriltag", "default"), ("lines", "default"),
                                 ("lines", "fast"))):
    print(f"\n== single-marker accuracy, {n_views} random views per case, tilt 0-55 deg, noise sigma 1")
    print("   columns per distance bin: marker-in-camera t mm (median/p95) | camera-in-world t mm | rotation deg | missed")
    for size in sizes:
        m = MarkerMap.single(7, size, "DICT_6X6_250")
        rng = np.random.default_rng(1)
        views = [random_view(rng, size) for _ in range(n_views)]
        images = [m.render(T, INTR, noise_std=1.0, seed=k) for k, (_, T) in enumerate(views)]
        for refine, preset in cases:
            det = MarkerDetector(refine=refine, preset=preset)
            rows = []
            for (d, T), img in zip(views, images):
                dets = det.detect(img, INTR)
                if len(dets) != 1:
                    rows.append((d, np.nan, np.nan, np.nan))
                    continue
                T_cm, _ = estimate_marker_pose(dets[0].corners_px, size, INTR)
                rows.append((d, 1e3 * np.linalg.norm(T_cm[:3, 3] - invert(T)[:3, 3]),
                             1e3 * np.linalg.norm(invert(T_cm)[:3, 3] - T[:3, 3]), rotation_angle_deg(T_cm, invert(T))))
            r = np.array(rows)
            print(f"  marker {size * 100:.0f} cm, refine={refine}" + (f", preset={preset}" if preset != "default" else ""))
            for lo, hi in BINS_M + [(0.3, 1.5)]:
                sel = r[(r[:, 0] >= lo) & (r[:, 0] < hi)]
                ok = sel[np.isfinite(sel[:, 1])]
                if len(ok) == 0:
                    continue
                med, p95 = np.median(ok[:, 1:], axis=0), np.percentile(ok[:, 1:], 95, axis=0)
                label = "all" if (lo, hi) == (0.3, 1.5) else f"{lo:.1f}-{hi:.1f} m"
                print(f"    {label:10s} {med[0]:6.2f}/{p95[0]:6.2f} | {med[1]:6.2f}/{p95[1]:6.2f} | "
                      f"{med[2]:5.3f}/{p95[2]:5.3f} | {len(sel) - len(ok)}/{len(sel)}")


def bench_board_accuracy(n_views):
    print(f"\n== 5x7 GridBoard (4 cm markers) joint pose vs single markers, {n_views} views 0.5-1.2 m, noise sigma 2")
    board = MarkerMap.grid_board(5, 7, 0.04, 0.01, "DICT_6X6_250")
    centre = board.object_points(list(board.ids)).mean(axis=0)
    rng = np.random.default_rng(2)
    jt, jr, st, sr, rms, ft, fr = [], [], [], [], [], [], []
    det, fast = MarkerDetector(), MarkerDetector(preset="fast")
    for k in range(n_views):
        T = look_at(rng.uniform(0.5, 1.2), rng.uniform(5, 50), rng.uniform(0, 360), rng.uniform(-20, 20), centre)
        img = board.render(T, INTR, noise_std=2.0, seed=k)
        dets = det.detect(img, INTR)
        r = board.estimate_camera_pose(dets, INTR)
        r_fast = board.estimate_camera_pose(fast.detect(img, INTR), INTR)
        if r_fast is not None:
            ft.append(1e3 * np.linalg.norm(r_fast[0][:3, 3] - T[:3, 3]))
            fr.append(rotation_angle_deg(r_fast[0], T))
        if r is None:
            continue
        jt.append(1e3 * np.linalg.norm(r[0][:3, 3] - T[:3, 3]))
        jr.append(rotation_angle_deg(r[0], T))
        rms.append(r[2])
        for d in dets:
            T_cm, _ = estimate_marker_pose(d.corners_px, 0.04, INTR)
            T1 = board.placement(d.marker_id).T_world_marker @ invert(T_cm)
            st.append(1e3 * np.linalg.norm(T1[:3, 3] - T[:3, 3]))
            sr.append(rotation_angle_deg(T1, T))
    print(f"  joint : camera position median {np.median(jt):.2f} mm (p95 {np.percentile(jt, 95):.2f}), "
          f"rotation {np.median(jr):.3f} deg (p95 {np.percentile(jr, 95):.3f}), rms {np.median(rms):.3f} px")
    print(f"  joint, preset=fast: camera position median {np.median(ft):.2f} mm (p95 {np.percentile(ft, 95):.2f}), "
          f"rotation {np.median(fr):.3f} deg (p95 {np.percentile(fr, 95):.3f}), {len(ft)}/{n_views} views")
    print(f"  single: camera position median {np.median(st):.2f} mm (p95 {np.percentile(st, 95):.2f}), "
          f"rotation {np.median(sr):.3f} deg (p95 {np.percentile(sr, 95):.3f})")


def bench_synthetic_sequences(num_frames):
    """Tracker on sequences from arkit.synthetic (independent GL renderer) with exact ground truth."""
    import json
    import tempfile
    from pathlib import Path

    import yaml

    from arkit.core.frame import Frame
    from arkit.tracking.marker_tracker import MarkerTracker
    try:
        from arkit.synthetic import generate_sequence
        from arkit.synthetic.tum_layout import read_groundtruth
    except ImportError as e:
        print(f"\n== synthetic sequences skipped ({e})")
        return
    print(f"\n== MarkerTracker on arkit.synthetic sequences ({num_frames} frames, map from scene.json)")
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in ("marker_board", "marker_room"):
            seq = generate_sequence(recipe, Path(tmp) / recipe, num_frames=num_frames)
            scene = json.loads((seq / "scene.json").read_text())
            marker_map = MarkerMap.from_dict({"dictionary": "DICT_6X6_250", "markers": scene["markers"]})
            intr = Intrinsics.from_dict(yaml.safe_load((seq / "intrinsics.yaml").read_text()))
            stamps, T_gt = read_groundtruth(seq / "groundtruth.txt")
            images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted((seq / "rgb").glob("*.png"))]
            for refine, preset in (("subpix", "default"), ("lines", "default"), ("lines", "fast")):
                tracker = MarkerTracker(marker_map=marker_map, refine=refine, preset=preset)
                te, re, n_tracking, ms = [], [], 0, []
                for i, img in enumerate(images):
                    t0 = time.perf_counter()
                    out = tracker.track(Frame(i, float(stamps[i]), img, intr))
                    ms.append(1e3 * (time.perf_counter() - t0))
                    if out.camera.tracking_state.value == "TRACKING":
                        n_tracking += 1
                        te.append(1e3 * np.linalg.norm(out.camera.T_world_camera[:3, 3] - T_gt[i][:3, 3]))
                        re.append(rotation_angle_deg(out.camera.T_world_camera, T_gt[i]))
                print(f"  {recipe:12s} refine={_label(refine, preset):11s} TRACKING {n_tracking}/{len(images)}  camera position "
                      f"median {np.median(te):.2f} mm (p95 {np.percentile(te, 95):.2f})  rotation median "
                      f"{np.median(re):.3f} deg (p95 {np.percentile(re, 95):.3f})  {np.median(ms):.1f} ms/frame")


def bench_sample_tracker(num_frames):
    """``MarkerTracker.track`` as configured by samples/marker_cube/scene.yaml on the built-in
    marker_room sequence (640x480), against the same tracker with OpenCV's default detector
    parameters; wall and CPU (this thread) milliseconds per frame, in one process."""
    from pathlib import Path

    from arkit.io.sources import open_source
    from arkit.scene.scene_file import load_scene
    from arkit.synthetic import ensure_builtin_sequence
    from arkit.tracking.factory import build_tracker

    seq = ensure_builtin_sequence("marker_room", num_frames=300, width=640, height=480)
    cfg = load_scene(Path(__file__).resolve().parents[1] / "samples" / "marker_cube" / "scene.yaml").tracking
    with open_source(str(seq)) as src:
        frames = [f for _, f in zip(range(num_frames), src)]
    trackers = {"sample config": build_tracker(cfg),
                "default detector": build_tracker({k: v for k, v in cfg.items() if k != "detector_params"})}
    wall = {k: [] for k in trackers}
    cpu = {k: [] for k in trackers}
    markers = {k: 0 for k in trackers}
    for f in frames:  # interleaved so that both see the same machine load
        for name, tracker in trackers.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            out = tracker.track(f)
            cpu[name].append(time.thread_time() - c0)
            wall[name].append(time.perf_counter() - t0)
            markers[name] += sum(t.state.value == "TRACKING" for t in out.trackables)
    print(f"\n== marker_cube sample tracker on builtin:marker_room, {len(frames)} frames 640x480 "
          f"(cv2 threads: {cv2.getNumThreads()})")
    for name in trackers:
        w, c = 1e3 * np.array(wall[name]), 1e3 * np.array(cpu[name])
        print(f"  {name:16s} track wall mean {w.mean():6.2f} median {np.median(w):6.2f} ms | "
              f"thread CPU mean {c.mean():6.2f} ms | {markers[name] / len(frames):.1f} markers/frame")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=120, help="random views per accuracy case (0 = skip)")
    ap.add_argument("--repeats", type=int, default=20, help="timing repeats")
    ap.add_argument("--sequence-frames", type=int, default=60, help="frames per arkit.synthetic sequence (0 = skip)")
    ap.add_argument("--sample-frames", type=int, default=150, help="marker_room frames for the sample tracker (0 = skip)")
    args = ap.parse_args()
    bench_speed(args.repeats)
    if args.sample_frames > 0:
        bench_sample_tracker(args.sample_frames)
    if args.views > 0:
        bench_single_accuracy(args.views)
        bench_board_accuracy(max(10, args.views // 6))
    if args.sequence_frames > 0:
        bench_synthetic_sequences(args.sequence_frames)


if __name__ == "__main__":
    main()
