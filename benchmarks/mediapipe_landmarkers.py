"""MediaPipe trackables offline: per-frame cost of the face detector, face / hand / pose landmarkers
(models imported or packed from the mediapipe==0.10.21 wheel) on real Megamind.avi frames, and the
sensitivity of the landmark-fit face pose to landmark noise (synthetic). Prints figures, no assertions.

    .venv/bin/python benchmarks/mediapipe_landmarkers.py [--frames 30] [--wheel WHEEL]

Wall time is noisy on a shared machine; process CPU time is printed next to it (MediaPipe uses
worker threads, so CPU time can exceed wall time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix


def megamind_frames(n: int):
    import cv2

    from arkit.io.shared_data import shared_data_path

    video = shared_data_path("opencv_samples_data", "video", "Megamind.avi")
    if video is None:
        raise SystemExit("real data Megamind.avi not present (set ARKIT_SHARED_DATA)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 20)
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def time_tracker(name: str, make, frames, K, video_mode: bool) -> None:
    with make() as tr:
        tr.process(frames[0], K)  # warm-up (graph start)
        wall, cpu, found = [], [], 0
        for i, f in enumerate(frames):
            c, t = time.process_time(), time.perf_counter()
            out = tr.process(f, K, None, 0.04 * (i + 1)) if video_mode else tr.process(f, K)
            wall.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
            found += bool(out.trackables)
    print(f"{name:34s} {np.median(wall):8.1f} {np.median(cpu):8.1f} {found:4d}/{len(frames)}")


def pose_noise_sweep(trials: int = 200) -> None:
    from arkit.recognition.face_geometry import CANONICAL_FACE_M, pose_from_landmarks, synthetic_points

    K = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
    rng = np.random.default_rng(0)
    R0 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    print("\nface pose from 8 landmarks (synthetic, canonical face exact, yaw/pitch/roll up to 35/20/20 deg, 0.4-1.2 m)")
    print(f"{'noise px':>9s} {'rot med deg':>12s} {'rot p95':>8s} {'depth med %':>12s} {'depth p95':>10s}")
    for sigma in (0.0, 0.5, 1.0, 2.0):
        rot, dep = [], []
        for _ in range(trials):
            ang = np.deg2rad(rng.uniform([-35, -20, -20], [35, 20, 20]))
            R = R0 @ rotvec_to_matrix([0, 0, ang[0]]) @ rotvec_to_matrix([ang[1], 0, 0]) @ rotvec_to_matrix([0, ang[2], 0])
            z = rng.uniform(0.4, 1.2)
            T = from_rt(R, [rng.uniform(-0.2, 0.2) * z, rng.uniform(-0.15, 0.15) * z, z])
            lm = np.zeros((478, 2))
            lm[list(CANONICAL_FACE_M)] = K.project(synthetic_points(T)) + rng.normal(0, sigma, (len(CANONICAL_FACE_M), 2))
            est = pose_from_landmarks(lm, K)
            if est is None:
                rot.append(180.0)
                dep.append(100.0)
                continue
            rot.append(rotation_angle_deg(est[:3, :3], R))
            dep.append(100.0 * abs(est[2, 3] - z) / z)
        print(f"{sigma:9.1f} {np.median(rot):12.2f} {np.percentile(rot, 95):8.2f} {np.median(dep):12.2f} {np.percentile(dep, 95):10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--wheel", default=os.environ.get("ARKIT_MEDIAPIPE_WHEEL"), help="mediapipe-0.10.21 wheel")
    args = ap.parse_args()
    from arkit.recognition import models
    from arkit.recognition.mediapipe_face import FaceDetector, FaceTracker
    from arkit.recognition.mediapipe_face_landmarks import FaceLandmarkTracker
    from arkit.recognition.mediapipe_hands import HandTracker
    from arkit.recognition.mediapipe_pose import BodyPoseTracker

    frames = megamind_frames(args.frames)
    h, w = frames[0].shape[:2]
    K = Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ARKIT_MODELS_DIR"] = cache
        t = time.perf_counter()
        models.import_from_wheel(args.wheel)
        print(f"import-wheel (copy + pack bundles): {time.perf_counter() - t:.1f} s")
        print(f"\n{len(frames)} Megamind.avi frames {w}x{h}, median per frame")
        print(f"{'tracker':34s} {'wall ms':>8s} {'cpu ms':>8s} {'found':>9s}")
        time_tracker("FaceTracker (BlazeFace short)", lambda: FaceTracker(FaceDetector()), frames, K, False)
        time_tracker("FaceLandmarkTracker image (legacy)", lambda: FaceLandmarkTracker(), frames, K, False)
        time_tracker("FaceLandmarkTracker video (legacy)", lambda: FaceLandmarkTracker(running_mode="video"),
                     frames, K, True)
        time_tracker("BodyPoseTracker image (full)", lambda: BodyPoseTracker(), frames, K, False)
        time_tracker("BodyPoseTracker video (full)", lambda: BodyPoseTracker(running_mode="video"), frames, K, True)
        time_tracker("HandTracker image (full)", lambda: HandTracker(), frames, K, False)
    pose_noise_sweep()


if __name__ == "__main__":
    main()
