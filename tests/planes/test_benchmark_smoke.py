"""Smoke test of benchmarks/planes.py: the Open3D reference and the figure overlay run."""

import importlib.util
import os
from pathlib import Path

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.planes.testing import evaluate_planes, look_at, render_depth, room_scene

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "planes.py"


def load_bench():
    saved = dict(os.environ)                 # the script pins thread counts for its own run
    try:
        spec = importlib.util.spec_from_file_location("arkit_bench_planes", BENCH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return mod


def test_open3d_reference_and_overlay():
    bench = load_bench()
    K = Intrinsics(320, 240, 262.5, 262.5, 159.5, 119.5)
    gt = render_depth(room_scene(), K, look_at((0.5, 1.5, -0.8), (-0.3, 0.4, 2.0)), seed=0)
    planes = bench.open3d_planes(gt.depth_m, K)
    assert planes
    labels = bench.label_like_ransac(gt.depth_m, K, planes)
    rep = evaluate_planes(labels, np.array([n for n, _ in planes]), np.array([d for _, d in planes]), gt)
    assert rep.recall > 0.5
    img = bench.overlay(np.zeros((240, 320, 3), np.uint8), labels)
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8 and img.any()


def test_stage_table(capsys):
    bench = load_bench()
    K = Intrinsics(320, 240, 262.5, 262.5, 159.5, 119.5)
    gt = render_depth(room_scene(), K, look_at((0.5, 1.5, -0.8), (-0.3, 0.4, 2.0)), seed=1)
    from arkit.planes.depth_extractor import DepthPlaneExtractor, DepthPlaneParams

    ex = DepthPlaneExtractor(K, DepthPlaneParams(cell_size_px=10, min_inliers_px=400))
    st = bench.stage_times(lambda f: ex(f[2]), [("synthetic", None, gt.depth_m, K)], repeats=2)
    assert set(st) == {"moments", "cell_fit", "regions", "pixels", "planes", "total"}
    assert st["total"] >= max(v for k, v in st.items() if k != "total") > 0
    bench.print_stages({"arkit depth planes": st})
    out = capsys.readouterr().out
    assert "regions" in out and "(100 %)" in out
