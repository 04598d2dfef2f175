"""Plane extraction from depth: speed on real 640x480 frames and accuracy on synthetic ground truth.

Runs arkit's cell-based extractor (:mod:`arkit.planes.depth_extractor`) and an Open3D loop
(depth -> point cloud, 2 cm voxel down-sampling, repeated RANSAC ``segment_plane`` removing the
inliers) on the same frames, single-threaded, in one process, and prints ms/frame, FPS and the
speed ratio, then precision / recall (planes covering > 5 % of the image), normal and offset
errors of both on analytic depth images with Kinect-like noise.

    .venv/bin/python benchmarks/planes.py                    # speed + accuracy
    .venv/bin/python benchmarks/planes.py --figures docs/planes/   # also write overlay PNGs
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/planes.py --baseline oldplanes.depth_extractor
        # also time another copy of the extractor module (e.g. before a change), interleaved
    .venv/bin/python benchmarks/planes.py --stages --numpy --no-open3d
        # per-stage CPU times, and the numpy fallback (no numba) timed in the same run

The real frames come from ``../shared/data`` (or ``$ARKIT_SHARED_DATA``); missing folders are skipped.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")                     # one core for both methods

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from arkit.core.camera import Intrinsics  # noqa: E402
from arkit.io.shared_data import shared_data_path  # noqa: E402
from arkit.planes.depth_extractor import DepthPlaneExtractor  # noqa: E402
from arkit.planes.testing import evaluate_planes, look_at, render_depth, room_scene  # noqa: E402

PRIMESENSE = (525.0, 525.0, 319.5, 239.5)


# -- real frames ------------------------------------------------------------------------------
def load_real_frames(max_sevenscenes: int = 30):
    """[(name, rgb (H, W, 3) uint8, depth (H, W) float32 metres, Intrinsics)] from ../shared/data."""
    import cv2

    out = []

    def rgb(path):
        return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()

    def raw(path):
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)

    K_ps = Intrinsics(640, 480, *PRIMESENSE)
    o3d_dir = shared_data_path("open3d_testdata_2019", "RGBD")
    if o3d_dir is not None:
        import open3d as o3d

        other = o3d_dir / "other_formats"
        for name, conv, cfile, dfile in [
            ("tum", o3d.geometry.RGBDImage.create_from_tum_format, "TUM_color.png", "TUM_depth.png"),
            ("nyu", o3d.geometry.RGBDImage.create_from_nyu_format, "NYU_color.ppm", "NYU_depth.pgm"),
            ("sun", o3d.geometry.RGBDImage.create_from_sun_format, "SUN_color.jpg", "SUN_depth.png"),
        ]:
            if not (other / dfile).exists():
                continue
            color = rgb(other / cfile)
            d = conv(o3d.geometry.Image(np.ascontiguousarray(color)),
                     o3d.geometry.Image(np.ascontiguousarray(raw(other / dfile))), convert_rgb_to_intensity=False)
            out.append((name, color, np.asarray(d.depth, np.float32).copy(), K_ps))
        for i in range(5):                               # ICL-NUIM rendered living room, scale 1000
            c, dp = o3d_dir / "color" / f"{i:05d}.jpg", o3d_dir / "depth" / f"{i:05d}.png"
            if dp.exists():
                out.append((f"iclnuim_{i}", rgb(c), raw(dp).astype(np.float32) / 1000.0, K_ps))
    sb = shared_data_path("slambook2_data", "ch5", "rgbd")
    if sb is not None:
        K_sb = Intrinsics(640, 480, 518.0, 519.0, 325.5, 253.5)
        for i in range(1, 6):
            out.append((f"slambook_{i}", rgb(sb / "color" / f"{i}.png"),
                        raw(sb / "depth" / f"{i}.pgm").astype(np.float32) / 1000.0, K_sb))
    ss = shared_data_path("sevenscenes_redkitchen_a")
    if ss is not None:
        K_ss = Intrinsics(640, 480, 585.0, 585.0, 320.0, 240.0)
        files = sorted(ss.glob("frame-*.depth.png"))
        step = max(1, len(files) // max(1, max_sevenscenes))
        for f in files[::step][:max_sevenscenes]:
            d = raw(f)
            dm = np.where(d >= 65535, 0, d).astype(np.float32) / 1000.0
            out.append((f"7scenes_{f.name[6:12]}", rgb(str(f).replace(".depth.png", ".color.jpg")), dm, K_ss))
    return out


# -- the Open3D reference ---------------------------------------------------------------------
def open3d_planes(depth_m, K: Intrinsics, voxel_m=0.02, dist_m=0.02, max_planes=8, min_fraction=0.03, seed=0):
    """Planes (normal (3,), offset) found by voxel down-sampling + repeated RANSAC, camera frame."""
    import open3d as o3d

    o3d.utility.random.seed(seed)
    intr = o3d.camera.PinholeCameraIntrinsic(K.width, K.height, K.fx, K.fy, K.cx, K.cy)
    pcd = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(depth_m), intr, depth_scale=1.0, depth_trunc=10.0)
    rest = pcd.voxel_down_sample(voxel_m)
    n0 = len(rest.points)
    planes = []
    while len(planes) < max_planes and len(rest.points) > max(50, min_fraction * n0):
        model, inl = rest.segment_plane(distance_threshold=dist_m, ransac_n=3, num_iterations=200)
        if len(inl) < min_fraction * n0:
            break
        n, d = np.asarray(model[:3], float), float(model[3])
        s = np.linalg.norm(n)
        n, d = n / s, d / s
        if d < 0:
            n, d = -n, -d
        planes.append((n, d))
        rest = rest.select_by_index(inl, invert=True)
    return planes


def label_like_ransac(depth_m, K: Intrinsics, planes, dist_m=0.02):
    """Per-pixel labels of sequential RANSAC planes (each takes the unassigned points within ``dist_m``)."""
    H, W = depth_m.shape
    v, u = np.mgrid[0:H, 0:W]
    P = K.unproject(np.stack([u.ravel(), v.ravel()], 1), depth_m.ravel())
    labels = np.full(H * W, -1, np.int32)
    valid = depth_m.ravel() > 0
    for k, (n, d) in enumerate(planes):
        m = valid & (labels < 0) & (np.abs(P @ n + d) < dist_m)
        labels[m] = k
    return labels.reshape(H, W)


# -- measurements -----------------------------------------------------------------------------
def time_per_frame(fn, frames, repeats):
    """(wall ms, CPU ms) per frame: the median over repeats of each frame, averaged over frames.

    CPU time (``time.process_time``) is less disturbed by other jobs on a shared machine."""
    wall, cpu = [], []
    for f in frames:
        tw, tc = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            fn(f)
            tw.append(time.perf_counter() - w0)
            tc.append(time.process_time() - c0)
        wall.append(1e3 * float(np.median(tw)))
        cpu.append(1e3 * float(np.median(tc)))
    return float(np.mean(wall)), float(np.mean(cpu))


SYNTH_VIEWS = [
    ((0.5, 1.5, -0.8), (-0.3, 0.4, 2.0)), ((1.2, 1.6, 0.0), (-0.5, 0.6, 2.2)),
    ((-0.2, 1.2, -0.5), (-1.0, 0.3, 1.6)), ((1.0, 1.7, -0.5), (0.6, 0.7, 1.6)),
    ((0.0, 1.4, -1.0), (0.0, 0.5, 2.0)), ((1.5, 1.3, 0.5), (-1.0, 0.8, 2.5)),
    ((-1.0, 1.6, -0.5), (0.5, 0.5, 2.0)), ((0.3, 2.0, 0.3), (0.0, 0.0, 1.8)),
]


def accuracy(K: Intrinsics, use_open3d: bool):
    ex = DepthPlaneExtractor(K)
    rows = {"arkit": [], "open3d": []}
    for i, (eye, target) in enumerate(SYNTH_VIEWS):
        gt = render_depth(room_scene(), K, look_at(eye, target), seed=100 + i)
        res = ex(gt.depth_m)
        rows["arkit"].append(evaluate_planes(res.labels, np.array([p.normal for p in res.planes]).reshape(-1, 3),
                                             np.array([p.offset for p in res.planes]), gt))
        if use_open3d:
            pl = open3d_planes(gt.depth_m, K)
            lab = label_like_ransac(gt.depth_m, K, pl)
            rows["open3d"].append(evaluate_planes(lab, np.array([n for n, _ in pl]).reshape(-1, 3),
                                                  np.array([d for _, d in pl]), gt))
    return rows


def print_accuracy(rows):
    print("\naccuracy on %d synthetic 640x480 frames (Kinect-like noise, holes; planes > 5%% of the image)"
          % len(SYNTH_VIEWS))
    print(f"{'method':8s} {'precision':>9s} {'recall':>7s} {'normal err deg (mean/max)':>26s} "
          f"{'offset err cm (mean/max)':>25s}")
    for name, reps in rows.items():
        if not reps:
            continue
        ne = [m[2] for r in reps for m in r.matches]
        oe = [100 * m[3] for r in reps for m in r.matches]
        print(f"{name:8s} {np.mean([r.precision for r in reps]):9.3f} {np.mean([r.recall for r in reps]):7.3f} "
              f"{np.mean(ne) if ne else float('nan'):13.3f} / {max(ne, default=float('nan')):6.3f}      "
              f"{np.mean(oe) if oe else float('nan'):11.3f} / {max(oe, default=float('nan')):6.3f}")


PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
                    (0, 128, 128), (170, 110, 40)], np.uint8)


def overlay(rgb, labels, alpha=0.55):
    """RGB (H, W, 3) uint8 with plane labels painted in colours and their borders drawn."""
    import cv2

    out = rgb.astype(np.float32)
    has = labels >= 0
    col = PALETTE[labels % len(PALETTE)].astype(np.float32)
    out[has] = (1 - alpha) * out[has] + alpha * col[has]
    out = out.astype(np.uint8)
    lab8 = (labels + 1).astype(np.uint8)
    edge = cv2.morphologyEx(lab8, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edge & has] = 255
    return out


def write_figures(frames, outdir: Path, run):
    """One 320x240 PNG per real frame (planes over the colour image) in ``outdir``."""
    import cv2
    from PIL import Image

    outdir.mkdir(parents=True, exist_ok=True)
    picked = [f for f in frames if not f[0].startswith("7scenes")] + \
             [f for f in frames if f[0].startswith("7scenes")][::10][:3]
    for name, rgb, depth, K in picked:
        res = run((name, rgb, depth, K))
        img = cv2.resize(overlay(rgb, res.labels), (320, 240), interpolation=cv2.INTER_AREA)
        path = outdir / f"{name}.png"
        Image.fromarray(img).quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size // 1024} kB, {len(res.planes)} planes)")


STAGE_NOTES = {
    "moments": "moment sums of every cell (one pass over the image)",
    "cell_fit": "a plane per cell, planarity test",
    "regions": "region growing over the cell grid, pruning, merging",
    "pixels": "pixel assignment on region borders, refit sums",
    "planes": "final plane fits, label image",
}


def stage_times(run, frames, repeats):
    """{stage: CPU ms} from ``timings_ms``: the median over repeats of each frame, averaged over frames."""
    per = {}
    for f in frames:
        reps = [run(f).timings_ms for _ in range(repeats)]
        for k in reps[0]:
            per.setdefault(k, []).append(float(np.median([r[k] for r in reps])))
    return {k: float(np.mean(v)) for k, v in per.items()}


def print_stages(stages):
    """One row per stage, one column (ms and share of the total) per timed extractor."""
    names = list(stages)
    print(f"\n{'stage (CPU ms/frame)':22s}" + "".join(f"{n:>26s}" for n in names))
    for k in stages[names[0]]:
        cells = "".join(f"{stages[n].get(k, float('nan')):17.2f} ({100 * stages[n].get(k, 0) / stages[n]['total']:3.0f} %)"
                        for n in names)
        print(f"{k:22s}{cells}   {STAGE_NOTES.get(k, '')}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30, help="7-Scenes frames to time (default 30)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per frame (median taken)")
    ap.add_argument("--no-open3d", action="store_true", help="skip the Open3D reference")
    ap.add_argument("--figures", metavar="DIR", help="write one overlay PNG per real frame into DIR")
    ap.add_argument("--baseline", metavar="MODULE",
                    help="importable copy of arkit.planes.depth_extractor to time against (same run)")
    ap.add_argument("--stages", action="store_true", help="print arkit's per-stage CPU times")
    ap.add_argument("--numpy", action="store_true",
                    help="also time arkit's numpy fallback (what runs without numba), interleaved")
    args = ap.parse_args(argv)
    import cv2

    import arkit.planes.depth_extractor as de

    cv2.setNumThreads(1)                                 # one core for both methods
    de._clock = time.process_time                        # stage timings in CPU time

    frames = load_real_frames(args.frames)
    print(f"{len(frames)} real RGB-D frames ({', '.join(sorted({f[0].split('_')[0] for f in frames}))})")
    extractors = {}

    def arkit_run(f):
        K = f[3]
        if K not in extractors:
            extractors[K] = DepthPlaneExtractor(K)
        return extractors[K](f[2])

    if frames:
        runners = {"arkit depth planes": arkit_run}
        if args.numpy:
            os.environ["ARKIT_NO_NUMBA"] = "1"            # read when an extractor is built
            np_ex = {f[3]: DepthPlaneExtractor(f[3]) for f in frames}
            del os.environ["ARKIT_NO_NUMBA"]
            runners["arkit, numpy path"] = lambda f: np_ex[f[3]](f[2])
        if args.baseline:
            import importlib

            base = importlib.import_module(args.baseline)
            base._clock = time.process_time
            base_ex = {}

            def base_run(f):
                if f[3] not in base_ex:
                    base_ex[f[3]] = base.DepthPlaneExtractor(f[3])
                return base_ex[f[3]](f[2])

            runners["baseline"] = base_run
        for run in runners.values():                      # warm-up (imports, ray tables, kernels)
            for f in frames:
                run(f)
        # alternate the runners, frame by frame, so all see the same machine load
        timed = {name: [] for name in runners}
        for f in frames:
            for name, run in runners.items():
                timed[name].append(time_per_frame(run, [f], args.repeats))
        wa, ca = np.mean(timed["arkit depth planes"], axis=0)
        backend = "numba kernels" if next(iter(extractors.values())).kernels is not None else "numpy, no numba"
        print(f"\n{'640x480, one core':22s} {'wall ms/frame':>14s} {'CPU ms/frame':>13s} {'FPS (CPU)':>10s}")
        for name in runners:
            w, c = np.mean(timed[name], axis=0)
            note = {"arkit depth planes": f"   ({backend})",
                    "baseline": f"   ({args.baseline}; arkit takes {ca / c:.2f}x its CPU time)",
                    "arkit, numpy path": f"   (without numba; arkit takes {ca / c:.2f}x its CPU time)"}[name]
            print(f"{name:22s} {w:14.2f} {c:13.2f} {1e3 / c:10.1f}{note}")
        if not args.no_open3d:
            wo, co = time_per_frame(lambda f: open3d_planes(f[2], f[3]), frames, max(1, args.repeats // 2))
            print(f"{'open3d RANSAC loop':22s} {wo:14.2f} {co:13.2f} {1e3 / co:10.1f}")
            print(f"speed ratio arkit : open3d = 1 : {co / ca:.1f} (CPU), 1 : {wo / wa:.1f} (wall)"
                  f"  -> arkit is {co / ca:.1f}x faster")
        stage_runs = [n for n in runners if n != "baseline"] if args.stages else ["arkit depth planes"]
        stages = {n: stage_times(runners[n], frames, args.repeats if args.stages else 1) for n in stage_runs}
        st = stages["arkit depth planes"]
        print("arkit stages (CPU ms, mean): " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()))
        if args.stages:
            print_stages(stages)
        print("planes per frame (arkit): %.1f" % np.mean([len(arkit_run(f).planes) for f in frames]))
    else:
        print("no real frames found (../shared/data absent); timing on synthetic frames only")

    K = Intrinsics(640, 480, *PRIMESENSE)
    print_accuracy(accuracy(K, not args.no_open3d))

    if args.figures:
        write_figures(frames, Path(args.figures), arkit_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
