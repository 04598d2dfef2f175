"""Video encode/decode speed at 640x480: arkit's VideoWriter / VideoFileSource vs plain OpenCV.

Run: .venv/bin/python benchmarks/io_video.py [--frames N]

Prints ms per frame for
* encoding H.264 with arkit.io.video_writer.VideoWriter (PyAV, presets veryfast and ultrafast)
  and, as the reference, cv2.VideoWriter with MJPEG (cv2 in this build cannot encode H.264);
* decoding that H.264 file with arkit.io.video_source.VideoFileSource (PyAV, yields Frames),
  with raw PyAV, and with cv2.VideoCapture (+ BGR->RGB), and the real 640x480 box.mp4 when
  ../shared/data is present.
Each figure is the best of 3 runs; the machine is shared, so compare the ratios printed in one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def scene(i: int, base: np.ndarray) -> np.ndarray:
    """A textured image panning by 3 px per frame with a moving bright square (camera-like)."""
    img = np.roll(base, 3 * i, axis=1).copy()
    x = 50 + (5 * i) % 500
    img[200:280, x:x + 80] = (250, 240, 60)
    return img


def timed(fn, repeats: int = 3) -> float:
    """Best of ``repeats`` runs, ms per frame (the minimum is the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        best = min(best, (time.perf_counter() - t) * 1000.0 / max(n, 1))
    return best


def main() -> None:
    import av
    import cv2

    from arkit.core.camera import Intrinsics
    from arkit.io.shared_data import shared_data_path
    from arkit.io.video_source import VideoFileSource
    from arkit.io.video_writer import VideoWriter

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    n = args.frames
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (60, 80, 3), np.uint8)
    base = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
    frames = [scene(i, base) for i in range(n)]
    K = Intrinsics(640, 480, 525, 525, 319.5, 239.5)
    tmp = Path(tempfile.mkdtemp(prefix="arkit_bench_"))

    print(f"640x480, {n} frames")
    results = {}
    for preset in ("veryfast", "ultrafast"):
        path = tmp / f"{preset}.mp4"

        def enc(path=path, preset=preset):
            with VideoWriter(path, 30, preset=preset, crf=20) as w:
                for f in frames:
                    w.write(f)
            return n
        results[f"encode arkit VideoWriter h264 {preset}"] = timed(enc)
        print(f"  h264 {preset}: {path.stat().st_size / n / 1024:.1f} KiB/frame")

    def enc_cv2():
        w = cv2.VideoWriter(str(tmp / "cv2.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
        for f in frames:
            w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        w.release()
        return n
    results["encode cv2.VideoWriter MJPEG (reference)"] = timed(enc_cv2)

    def dec_arkit(path):
        return lambda: sum(1 for _ in VideoFileSource(path, intrinsics=K))

    def dec_pyav(path):
        def run():
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                return sum(1 for f in c.decode(s) if f.to_ndarray(format="rgb24") is not None)
        return run

    def dec_cv2(path):
        def run():
            cap = cv2.VideoCapture(str(path))
            k = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                k += 1
            cap.release()
            return k
        return run

    videos = [("synthetic h264", tmp / "veryfast.mp4")]
    real = shared_data_path("opencv_samples_data", "pose_box_tutorial", "box.mp4")
    if real is not None:
        videos.append(("real box.mp4", real))
    for label, path in videos:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[f"decode {label}: arkit VideoFileSource (Frames)"] = timed(dec_arkit(path))
        results[f"decode {label}: raw PyAV rgb24"] = timed(dec_pyav(path))
        results[f"decode {label}: cv2.VideoCapture + BGR2RGB"] = timed(dec_cv2(path))

    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}}  {v:6.2f} ms/frame")
    ref = results["encode cv2.VideoWriter MJPEG (reference)"]
    print(f"ratio h264 veryfast / cv2 MJPEG encode: {results['encode arkit VideoWriter h264 veryfast'] / ref:.2f}")
    for label, _ in videos:
        a = results[f"decode {label}: arkit VideoFileSource (Frames)"]
        c = results[f"decode {label}: cv2.VideoCapture + BGR2RGB"]
        print(f"ratio arkit / cv2 decode ({label}): {a / c:.2f}")


if __name__ == "__main__":
    main()
