"""Camera tracking benchmark: arkit's VisualTracker on real and synthetic data, with references.

Every figure of issue 3 in one run (switches skip parts):

1. RGB-D, 7-Scenes RedKitchen (300 real Kinect frames): arkit ``VisualTracker(mode="rgbd")`` vs
   Open3D's RGB-D odometry (``open3d.pipelines.odometry.compute_rgbd_odometry``, hybrid
   photometric + geometric term, chained frame to frame). ATE RMSE after SE(3) alignment, RPE.
2. RGB-D, small sets with given poses: ``slambook2_data/ch5/rgbd`` (5 real Kinect frames, poses
   from a reconstruction, 0.2-0.7 m and up to 25 deg between frames) and
   ``open3d_testdata_2019/RGBD`` (5 rendered ICL-NUIM frames, ``odometry.log``): RPE per frame
   pair (translation cm, rotation deg) and ATE for arkit and Open3D, speed ratio arkit/Open3D.
3. Monocular, KITTI odometry (51 frames, 1241x376): arkit ``VisualTracker(mode="mono")`` vs
   plain OpenCV frame-to-frame VO whose per-step translation is scaled by the ground-truth step
   length; both Sim(3)-aligned ATE.
4. Synthetic 640x480 (``arkit.synthetic``, exact ground truth, cached between runs): RGB-D ATE
   on ``textured_room``; monocular Sim(3) ATE on ``textured_room`` without depth; the
   ``turn_away`` path (RGB-D and monocular): frames from the camera's return to TRACKING and the
   error after it. Both use ``arkit.tracking.vslam.synthetic_eval`` (``run_monocular``,
   ``run_turn_away``: "returning" = the ground-truth view overlaps the map at the loss again)
   when it exists, else this script's own definitions (returning = the path's turn weight back
   to 0).
5. World alignment (:class:`arkit.tracking.world_alignment.WorldAlignedTracker`) around the
   monocular tracker on ``marker_room`` without depth: scale error against the Sim(3) scale of
   the raw trajectory, and gravity error, for scale from a marker / depth / recorded poses and
   gravity from the marker / floor / recorded poses / a simulated IMU / the floor in the monocular
   map; and scale + gravity from a 0.5 m image target on a generated poster_floor sequence.
6. Real monocular videos (opencv_samples_data): ``box.mp4`` (640x480, intrinsics of OpenCV's
   pose tutorial: fx=640*55/22.3, fy=480*55/14.9, cx=320, cy=240) and ``cup.mp4`` (640x480,
   approximate intrinsics: 60 deg horizontal field of view): state counts per frame, frames
   tracked after initialisation, frames where ``track`` raised instead of reporting a state.
7. Static camera, ``vtest.avi`` (768x576, people walking, approximate 60 deg intrinsics): the
   reported camera motion after initialisation, per frame: translation in map units (a
   monocular map's unit is the median scene depth of its first two views) and rotation (deg);
   median and max, and the largest distance from the first tracked position.

Speed: milliseconds per frame of the tracking call only (frames are decoded beforehand), both
methods in the same process, one after the other. The machine is shared, so compare ratios.
arkit rows also give the CPU time of the tracking thread alone (``time.thread_time``) and, with
``async_mapping``, the CPU the background local-mapping thread spent per frame.

Run: ``.venv/bin/python benchmarks/tracking.py [--frames N] [--no-rgbd] [--no-small-rgbd]
[--no-kitti] [--no-open3d] [--no-async] [--no-synthetic] [--no-mono-synthetic] [--no-turn-away]
[--no-alignment] [--no-videos] [--no-vtest] [--video-frames N] [--synthetic-frames N]``
"""

from __future__ import annotations

import argparse
import os
import sys

from tracking_real import bench_rgbd, bench_mono, bench_videos, bench_vtest, bench_small_rgbd
from tracking_synthetic import bench_synthetic, bench_mono_synthetic, bench_turn_away, bench_alignment


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300, help="7-Scenes frames to use")
    ap.add_argument("--no-rgbd", action="store_true", help="skip 7-Scenes")
    ap.add_argument("--no-small-rgbd", action="store_true", help="skip slambook2 ch5 and open3d_testdata RGBD")
    ap.add_argument("--no-kitti", action="store_true")
    ap.add_argument("--no-open3d", action="store_true", help="skip the Open3D reference rows")
    ap.add_argument("--no-async", action="store_true", help="skip the async-mapping arkit row")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the synthetic RGB-D textured_room row")
    ap.add_argument("--synthetic", action="store_true", help=argparse.SUPPRESS)   # old switch; now the default
    ap.add_argument("--no-mono-synthetic", action="store_true", help="skip the monocular synthetic row")
    ap.add_argument("--no-turn-away", action="store_true", help="skip the turn-away relocalisation figures")
    ap.add_argument("--no-alignment", action="store_true", help="skip the scale/gravity alignment figures")
    ap.add_argument("--no-videos", action="store_true", help="skip box.mp4 and cup.mp4")
    ap.add_argument("--no-vtest", action="store_true", help="skip the static-camera vtest.avi check")
    ap.add_argument("--video-frames", type=int, default=0, help="frames per real video (0 = all)")
    ap.add_argument("--synthetic-frames", type=int, default=300, help="frames of each synthetic sequence")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (shared machine: compare ratios)")
    if not args.no_rgbd:
        bench_rgbd(args.frames, not args.no_open3d, not args.no_async)
    if not args.no_small_rgbd:
        bench_small_rgbd(not args.no_open3d)
    if not args.no_synthetic:
        bench_synthetic(args.synthetic_frames)
    if not args.no_mono_synthetic:
        bench_mono_synthetic(args.synthetic_frames)
    if not args.no_turn_away:
        bench_turn_away(max(args.synthetic_frames, 360))
    if not args.no_alignment:
        bench_alignment(min(args.synthetic_frames, 150))
    if not args.no_kitti:
        bench_mono(not args.no_open3d)
    if not args.no_videos:
        bench_videos(args.video_frames)
    if not args.no_vtest:
        bench_vtest(args.video_frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
