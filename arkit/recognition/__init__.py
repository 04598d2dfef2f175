"""arkit.recognition: things arkit recognises in camera frames.

Modules (import the one you need; none is imported by ``import arkit``):

* :mod:`~arkit.recognition.image_targets`: :class:`ImageTargetDatabase` (build, detect) and
  :class:`TargetDetection`; :mod:`~arkit.recognition.target_db` saves/loads it (``.npz``)
  and reads a folder of target images.
* :mod:`~arkit.recognition.target_tracking`: :class:`ImageTargetTracker` (detect, then follow
  with optical flow) reporting ``ImageTargetTrackable`` s with ids ``"image:<name>"``.
* :mod:`~arkit.recognition.features`, :mod:`~arkit.recognition.target_pose`,
  :mod:`~arkit.recognition.target_refine`: feature extraction and index, planar geometry and
  pose, sub-pixel homography alignment.
* :mod:`~arkit.recognition.synthetic_targets`: seeded synthetic target scenes with ground truth.
* :mod:`~arkit.recognition.models`: MediaPipe model registry, cache, fetch and offline import.
* :mod:`~arkit.recognition.model_bundles`: ``.task`` bundles packed from the legacy wheel.
* :mod:`~arkit.recognition.mediapipe_face`: face detection -> face trackables (coarse pose).
* :mod:`~arkit.recognition.mediapipe_face_landmarks` and :mod:`~arkit.recognition.face_geometry`:
  face mesh, blendshapes and a metric face pose.
* :mod:`~arkit.recognition.mediapipe_hands`, :mod:`~arkit.recognition.gestures`: hands and pinch.
* :mod:`~arkit.recognition.mediapipe_pose`: body pose.
* :mod:`~arkit.recognition.mediapipe_objects`: objects by category (``object:<category>``).
* :mod:`~arkit.recognition.segmentation`: people segmentation -> occluder mask.
* :mod:`~arkit.recognition.managers`: all of these as session managers.
"""
