"""Per-frame CPU time of ``PlaneStage.update`` split into depth-plane extraction vs manager.

Run: ``.venv/bin/python benchmarks/planes_manager.py [n_frames]`` (single-threaded).
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
import time

import cv2
import numpy as np

from arkit.core.trackables import CameraState, TrackingState
from arkit.planes.depth_extractor import DepthPlaneExtractor
from arkit.io.sources import open_source
from arkit.planes.stage import PlaneStage


def main(n_frames: int = 100) -> None:
    cv2.setNumThreads(1)
    stage = PlaneStage()
    mgr = stage.manager
    ext_t = []
    f0 = DepthPlaneExtractor.extract

    def timed(self, *a, **k):
        t = time.thread_time()
        r = f0(self, *a, **k)
        ext_t.append(time.thread_time() - t)
        return r
    DepthPlaneExtractor.extract = timed
    totals = []
    src = open_source("builtin:marker_room:300")
    for i, frame in enumerate(src):
        if i >= n_frames:
            break
        cam = CameraState(frame.T_world_camera_recorded, TrackingState.TRACKING, "recorded")
        t = time.thread_time()
        stage.update(frame, cam)
        totals.append(time.thread_time() - t)
    tot = 1e3 * np.mean(totals[1:])
    ext = 1e3 * np.mean(ext_t[1:]) if ext_t else float("nan")
    print(f"frames={len(totals)} stage={tot:.2f} ms  extraction={ext:.2f} ms  manager={tot - ext:.2f} ms "
          f"planes={len(mgr.planes())}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
