"""3D model targets on real video (OpenCV's pose tutorial box.mp4) and the depth route on
synthetic depth. Prints figures (no assertions).

    .venv/bin/python benchmarks/recognition_model.py [--quick] [--figure docs/model_target_box.jpg]

Section "model targets (box.mp4)":
* intrinsics: the tutorial's approximate ones (fx=640*55/22.3, fy=480*55/14.9) and ones refined by
  self-calibration: fx, fy and every sampled frame's pose fitted (robust least squares, principal
  point fixed at the centre) to the 3D-2D inliers of every 10th tracked frame.
* frames tracked / fully visible: "fully visible" = all 8 box corners inside the image under the
  tracked pose (a hand check of every 38th frame agreed: the box is whole in all of them).
* edge distance: along the projected outline edges (between a visible and a hidden face), the
  distance to the nearest strong colour-gradient peak normal to the edge
  (:func:`arkit.recognition.model_targets.edge_alignment_px`; capped at 10 px = no edge found).
* detection ms: a full detection (frame ORB + matching + PnP) on every 10th frame; tracking ms:
  the per-frame cost of frames handled by tracking (frame ORB + guided matching + PnP).

Timings on a shared machine are noisy: compare figures measured in one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix, transform_points
from arkit.io.shared_data import shared_data_path

TUTORIAL = Intrinsics(640, 480, 640 * 55 / 22.3, 480 * 55 / 14.9, 320.0, 240.0)
BOX_DIR = ("opencv_samples_data", "pose_box_tutorial")


def read_video(path, max_frames=None) -> list:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while max_frames is None or len(frames) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def run_video(target, frames, intr):
    """Track through ``frames``; per-frame rows and timing lists."""
    from arkit.recognition.model_target_tracker import ModelTargetTracker
    from arkit.recognition.model_targets import edge_alignment_px, visible_box_edges

    tracker = ModelTargetTracker([target])
    rows, track_ms, poses = [], [], []
    for img in frames:
        t = time.perf_counter()
        res = tracker.process(img, intr)
        ms = (time.perf_counter() - t) * 1e3
        pose = res.poses[0] if res.poses else None
        poses.append(pose)
        if pose is None:
            rows.append((False, False, np.nan, np.nan))
            continue
        if not res.detected:
            track_ms.append(ms)
        c = transform_points(pose.T_camera_model, target.corners_m)
        uv = intr.project(c)
        whole = bool(np.all((uv >= 0) & (uv <= [intr.width - 1, intr.height - 1])) and np.all(c[:, 2] > 0))
        d = edge_alignment_px(img, uv, visible_box_edges(c, outline_only=True))
        rows.append((True, whole, float(np.mean(d)) if len(d) else np.nan, pose.reprojection_error_px))
    return rows, track_ms, poses


def detection_ms(target, frames, intr, step=10):
    from arkit.recognition.features import detect_features
    from arkit.recognition.model_target_tracker import ModelTargetTracker

    tracker = ModelTargetTracker([target])
    ms, found = [], 0
    for img in frames[::step]:
        import cv2

        t = time.perf_counter()
        pts, desc = detect_features(tracker._orb, cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
        found += tracker.detect(target, pts.astype(np.float64), desc, intr) is not None
        ms.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ms)), found, len(ms)


def self_calibrate(target, poses, width=640, height=480, step=10):
    """Fit fx, fy (principal point at the centre) and the sampled frames' poses to the PnP inliers."""
    import cv2
    from scipy.optimize import least_squares

    obs = [(target.points_m[p.inliers], p.points_px, p.T_camera_model) for p in poses[::step] if p is not None]
    cx, cy = width / 2, height / 2
    x0 = [TUTORIAL.fx, TUTORIAL.fy]
    for _, _, T in obs:
        x0 += list(cv2.Rodrigues(T[:3, :3])[0].ravel()) + list(T[:3, 3])

    def residuals(x):
        K = np.array([[x[0], 0, cx], [0, x[1], cy], [0, 0, 1.0]])
        out = []
        for k, (o, q, _) in enumerate(obs):
            r = x[2 + 6 * k: 8 + 6 * k]
            out.append((cv2.projectPoints(o, r[:3], r[3:], K, None)[0].reshape(-1, 2) - q).ravel())
        return np.concatenate(out)

    sol = least_squares(residuals, np.array(x0), loss="huber", f_scale=2.0, x_scale="jac")
    return Intrinsics(width, height, sol.x[0], sol.x[1], cx, cy), len(obs)


def section_box(quick: bool, figure: str | None):
    from arkit.recognition.model_targets import ModelTarget

    d = shared_data_path(*BOX_DIR)
    if d is None:
        print("model targets (box.mp4): skipped, real data not present (set ARKIT_SHARED_DATA)")
        return
    target = ModelTarget.from_opencv_tutorial(d / "cookies_ORB.yml", d / "box.ply", name="box")
    frames = read_video(d / "box.mp4", 120 if quick else None)
    print(f"model targets (box.mp4): {len(frames)} frames, model {len(target)} points, extent "
          f"{np.round(target.extent_m, 3).tolist()} m")
    rows, track_ms, poses = run_video(target, frames, TUTORIAL)
    refined, n_obs = self_calibrate(target, poses)
    print(f"  self-calibration from {n_obs} frames: fx={refined.fx:.1f} fy={refined.fy:.1f} "
          f"(tutorial fx={TUTORIAL.fx:.1f} fy={TUTORIAL.fy:.1f})")
    print("  intrinsics  tracked/fully-visible  edge-dist-px(mean/median)  frames<=3px  reproj-rms-px  "
          "detect-ms  track-ms")
    results = {}
    for name, intr in (("tutorial", TUTORIAL), ("refined", refined)):
        if name == "refined":
            rows, track_ms, poses = run_video(target, frames, intr)
        a = np.array(rows, dtype=float)
        tracked, whole = a[:, 0].astype(bool), a[:, 1].astype(bool)
        # fully visible frames: tracked with all corners inside, plus untracked frames whose
        # neighbours say so (none was untracked in our runs)
        visible = whole.copy()
        for i in np.nonzero(~tracked)[0]:
            nb = [j for j in (i - 1, i + 1) if 0 <= j < len(a) and tracked[j]]
            visible[i] = bool(nb) and all(whole[j] for j in nb)
        n_vis, n_ok = int(visible.sum()), int((visible & tracked).sum())
        edge = a[tracked & visible, 2]
        det_ms, found, tried = detection_ms(target, frames, intr)
        print(f"  {name:9s}   {n_ok}/{n_vis} ({100 * n_ok / max(n_vis, 1):.1f} %)          "
              f"{np.nanmean(edge):.2f} / {np.nanmedian(edge):.2f}                {100 * np.mean(edge <= 3):.0f} %"
              f"        {np.nanmean(a[tracked, 3]):.2f}          {det_ms:.0f} ({found}/{tried} found)  "
              f"{np.median(track_ms):.0f}")
        results[name] = (intr, poses)
    print(f"  ratio detection/tracking ms (refined): see the two columns above; "
          f"{len(frames) - len(track_ms)} frame(s) needed a full detection")
    if figure:
        write_figure(figure, target, frames, *results["refined"])


def write_figure(path, target, frames, intr, poses, n=6):
    """A grid of frames with the tracked box's edges drawn (outline green, inner edges yellow)."""
    import cv2

    from arkit.recognition.model_targets import BOX_EDGES, visible_box_edges

    idx = np.linspace(0, len(frames) - 1, n).astype(int)
    tiles = []
    for i in idx:
        img = cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR)
        p = poses[i]
        if p is not None:
            c = transform_points(p.T_camera_model, target.corners_m)
            uv = intr.project(c)
            seen = set(visible_box_edges(c))
            outline = set(visible_box_edges(c, outline_only=True))
            for a, b in BOX_EDGES:
                e = (min(a, b), max(a, b))
                if e in seen:
                    col = (80, 255, 80) if e in outline else (0, 220, 255)
                    cv2.line(img, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)), col, 2,
                             cv2.LINE_AA)
        cv2.putText(img, f"frame {i}", (12, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(cv2.resize(img, (427, 320), interpolation=cv2.INTER_AREA))
    grid = np.vstack([np.hstack(tiles[k:k + 3]) for k in range(0, n, 3)])
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if str(path).lower().endswith((".jpg", ".jpeg")) else []
    cv2.imwrite(str(path), grid, params)
    print(f"  wrote {path}")


def section_depth(quick: bool):
    import trimesh

    from arkit.recognition.model_registration import depth_to_points, register_model, sample_model_points
    from arkit.render import DrawItem, box_mesh, create_renderer, mesh_from_trimesh

    parts = [trimesh.creation.box((0.20, 0.05, 0.12)), trimesh.creation.box((0.04, 0.12, 0.04)),
             trimesh.creation.box((0.06, 0.03, 0.03))]
    parts[1].apply_translation((0.07, 0.085, 0.03))
    parts[2].apply_translation((-0.05, 0.04, -0.03))
    objects = [("synthetic L-shape", trimesh.util.concatenate(parts))]
    knot = shared_data_path("open3d_testdata_2019", "knot.ply")
    if knot is not None:
        m = trimesh.load(str(knot), force="mesh")
        m.apply_scale(0.001)  # millimetres -> metres (17 cm across)
        m.apply_translation(-m.bounds.mean(0))
        objects.append(("open3d knot (symmetric)", m))
    intr = Intrinsics(320, 240, 300.0, 300.0, 159.5, 119.5)
    rng = np.random.default_rng(0)
    poses = [([0.4, -0.8, 0.3], [0.02, -0.01, 0.45]), ([-0.2, 2.0, 0.1], [-0.03, 0.0, 0.5]),
             ([0.9, 0.3, -0.4], [0.0, 0.02, 0.42])][: 1 if quick else 3]
    print("depth route (FPFH + 3 seeded RANSAC runs + point-to-plane ICP; synthetic 320x240 depth, 1 mm noise, "
          "a floor behind; the knot is rotationally symmetric, so 120/180 deg answers are its symmetries):")
    print("  object                      rot-err-deg  trans-err-mm  fitness  coarse-ms  icp-ms")
    with create_renderer(320, 240) as r:
        for name, obj in objects:
            model, normals = sample_model_points(obj, 4000, return_normals=True)
            for rv, t in poses:
                T_cm = from_rt(rotvec_to_matrix(rv), t)
                T_cf = from_rt(rotvec_to_matrix([-0.3, 0, 0]), [0, 0.16, 0.5])
                out = r.render([DrawItem(mesh_from_trimesh(obj), T_cm), DrawItem(box_mesh((1.0, 0.01, 1.0)), T_cf)],
                               intr, np.eye(4))
                depth = np.where(out.depth_m > 0, out.depth_m + rng.normal(0, 0.001, out.depth_m.shape), 0)
                reg = register_model(model, depth_to_points(depth.astype(np.float32), intr), voxel_m=0.008, seed=0,
                                     model_normals=normals)
                T = reg.T_camera_model
                print(f"  {name:26s}  {rotation_angle_deg(T[:3, :3], T_cm[:3, :3]):9.2f}  "
                      f"{1e3 * np.linalg.norm(T[:3, 3] - T_cm[:3, 3]):11.1f}  {reg.fitness:7.2f}  "
                      f"{reg.coarse_ms:9.0f}  {reg.refine_ms:6.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="first 120 frames, one depth pose")
    ap.add_argument("--figure", help="write the frames-with-box figure here (.jpg or .png)")
    ap.add_argument("--depth-only", action="store_true", help="only the depth-route section")
    args = ap.parse_args()
    if not args.depth_only:
        section_box(args.quick, args.figure)
    section_depth(args.quick)


if __name__ == "__main__":
    main()
