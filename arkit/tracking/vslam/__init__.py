"""Feature-based visual odometry / SLAM in the spirit of ORB-SLAM (RGB-D and monocular).

One module per responsibility:

- :mod:`.config`          :class:`VisualTrackerConfig`
- :mod:`.features`        ORB keypoints with grid bucketing, window depth sampling, keypoint
                          undistortion, Hamming distances
- :mod:`.map`             map points, keyframes, the map (save / load ``.npz``)
- :mod:`.initializer`     first map from one RGB-D frame or from two monocular views
- :mod:`.frame_tracking`  motion model, projection search, motion-only pose optimisation
                          (vectorised Gauss-Newton with a Huber kernel)
- :mod:`.tracking_steps`  per-frame steps of the tracker: last-frame search, keyframe decision
- :mod:`.local_mapping`   keyframe decision, new points (depth / triangulation), culling
- :mod:`.local_ba`        local bundle adjustment over the map (snapshot / solve / write back)
- :mod:`.bundle_adjustment` Levenberg-Marquardt BA with the Schur complement (numpy)
- :mod:`.mapping_worker`  background thread running local BA (``async_mapping=True``)
- :mod:`.relocalization`  keyframe retrieval by descriptor matching + PnP RANSAC
- :mod:`.tracker`         :class:`VisualTracker`, the explicit tracking state machine

Import :class:`VisualTracker` from :mod:`arkit.tracking.vslam.tracker` (this package does not
import cv2 until used).
"""

__all__ = ["VisualTracker", "VisualTrackerConfig"]


def __getattr__(name):
    if name in __all__:
        from arkit.tracking.vslam import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module 'arkit.tracking.vslam' has no attribute {name!r}")
