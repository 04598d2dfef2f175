"""Renderer and compositor speed at 640x480.

Prints milliseconds per frame for the GL renderer (render + readback), the software renderer and
the compositor, for a ~10k-triangle scene filling much of the frame, for a few small overlays and
for the samples/marker_cube content (box, axes and label on a marker, < 10% of the frame), and
the software/GL ratio (medians). GL figures are wall time and CPU time of the process (all
threads, ``time.process_time``); on a shared machine the CPU figure is the steadier one, and
ratios from one run are what to compare.

    .venv/bin/python benchmarks/render.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from arkit.core import Intrinsics
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.render import (
    DrawItem, GLRenderer, SoftwareRenderer, axes_mesh, box_mesh, composite, quad_mesh, sphere_mesh,
    text_label_mesh,
)

K = Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)


def _look_at(eye, target):
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    return from_rt(np.stack([x, np.cross(z, x), z], axis=1), eye)


def scenes():
    T_wc = _look_at([0.15, 0.35, 0.45], [0, 0, 0])
    tex = (np.random.default_rng(0).integers(0, 256, (256, 256, 3))).astype(np.uint8)
    big = [
        DrawItem(sphere_mesh(0.09, (0.9, 0.5, 0.2), 4), from_rt(t=[-0.08, 0.09, 0.0])),   # 5120 tris
        DrawItem(sphere_mesh(0.07, (0.3, 0.6, 0.9), 4), from_rt(t=[0.12, 0.07, 0.05])),   # 5120 tris
        DrawItem(quad_mesh(0.6, 0.5, texture=tex), np.eye(4)),
        DrawItem(box_mesh((0.08, 0.08, 0.08), (0.4, 0.9, 0.4)), from_rt(rotvec_to_matrix([0, 0.5, 0]), [0.0, 0.04, 0.15])),
    ]
    small = [
        DrawItem(axes_mesh(0.05), from_rt(t=[0.0, 0.0, 0.0])),
        DrawItem(text_label_mesh("marker 7", 0.02), from_rt(t=[0.0, 0.001, 0.04])),
        DrawItem(box_mesh((0.03, 0.03, 0.03), (0.9, 0.2, 0.2)), from_rt(t=[0.06, 0.015, 0.0])),
    ]
    marker = [  # samples/marker_cube/scene.yaml, seen from about 0.6 m
        DrawItem(box_mesh((0.08, 0.08, 0.08), (0.9, 0.27, 0.2)), from_rt(rotvec_to_matrix([0, 0.52, 0]), [0, 0.04, 0])),
        DrawItem(axes_mesh(0.12), np.eye(4)),
        DrawItem(text_label_mesh("marker 3", 0.04), from_rt(t=[0.0, 0.001, 0.11])),
    ]
    return {"10k triangles": (big, T_wc), "3 small overlays": (small, T_wc),
            "marker_cube content": (marker, _look_at([0.25, 0.5, 0.6], [0, 0, 0]))}


def _time(fn, repeat, cpu=False):
    """Median milliseconds per call (robust to other processes on a shared machine); with
    ``cpu`` also the median CPU milliseconds of the process (all threads)."""
    fn()
    times, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    if cpu:
        return float(np.median(times)) * 1000.0, float(np.median(cpus)) * 1000.0
    return float(np.median(times)) * 1000.0


def _composite_reference(bg, out, real):
    """Plain float numpy blend with depth occlusion (what composite() replaces)."""
    a = out.rgba[:, :, 3:4].astype(np.float32) / 255.0
    hidden = (real > 0) & (out.depth_m > 0) & (real < out.depth_m - 0.02)
    a = np.where(hidden[:, :, None], 0.0, a)
    return (bg * (1 - a) + out.rgba[:, :, :3] * a).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    bg = rng.integers(0, 256, (480, 640, 3)).astype(np.uint8)
    real = rng.uniform(0.3, 1.0, (480, 640)).astype(np.float32)
    gl = GLRenderer(640, 480, samples=4)
    gl0 = GLRenderer(640, 480, samples=0)
    sw = SoftwareRenderer(640, 480)
    print(f"GL: {gl.renderer_name}; 640x480; {args.repeat} repeats")
    for name, (items, T_wc) in scenes().items():
        n_tri = sum(len(it.mesh.faces) for it in items)
        t_gl, c_gl = _time(lambda: gl.render(items, K, T_wc), args.repeat, cpu=True)
        t_gl0, c_gl0 = _time(lambda: gl0.render(items, K, T_wc), args.repeat, cpu=True)
        t_sw = _time(lambda: sw.render(items, K, T_wc), max(3, args.repeat // 5))
        out = gl.render(items, K, T_wc)
        t_c = _time(lambda: composite(bg, out), args.repeat)
        t_cd = _time(lambda: composite(bg, out, real_depth_m=real), args.repeat)
        t_ref = _time(lambda: _composite_reference(bg, out, real), args.repeat)
        print(f"[{name}: {n_tri} triangles, {int((out.rgba[:, :, 3] > 0).sum())} covered pixels]")
        print(f"  GL render+readback, 4x MSAA : {t_gl:7.2f} ms   (CPU {c_gl:.2f} ms)")
        print(f"  GL render+readback, no MSAA : {t_gl0:7.2f} ms   (CPU {c_gl0:.2f} ms)")
        print(f"  software render             : {t_sw:7.2f} ms   (software / GL = {t_sw / t_gl:.1f}x)")
        print(f"  composite                   : {t_c:7.2f} ms")
        print(f"  composite + real depth      : {t_cd:7.2f} ms   (float numpy reference {t_ref:.2f} ms, "
              f"{t_ref / t_cd:.1f}x slower)")
    for r in (gl, gl0, sw):
        r.close()


if __name__ == "__main__":
    main()
