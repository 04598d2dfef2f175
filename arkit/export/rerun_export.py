"""A recording as a rerun ``.rrd`` file (optional dependency ``rerun-sdk``).

Entities (timeline ``frame`` = source frame index, ``time`` = timestamp):

* ``world/camera``: the camera pose (Transform3D, OpenCV axes: RDF) and a pinhole model;
* ``world/camera/image``: the camera frame (JPEG-compressed), ``world/camera/depth`` if any;
* ``world/trackables``: trackable origins as labelled points; ``world/planes/<id>``: planes as
  meshes, logged when they are added or updated.

The file is streamed to disk frame by frame.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.errors import MissingDependencyError

log = logging.getLogger(__name__)


def export_rrd(recording, path, *, max_frames: Optional[int] = None, jpeg_quality: int = 80,
               log_depth: bool = True) -> Path:
    """Write a recording's frames, camera path, trackables and planes to a rerun file.

    Parameters
    ----------
    recording : str or Path
        Recording folder.
    path : str or Path
        Destination ``.rrd``.
    max_frames : int, optional
        Stop after this many frames.
    jpeg_quality : int
        Image compression.
    log_depth : bool
        Also log depth images.
    """
    try:
        import rerun as rr
    except ImportError as e:
        raise MissingDependencyError("exporting .rrd needs rerun: pip install rerun-sdk") from e
    from arkit.export.gltf import plane_mesh
    from arkit.recording.replay import open_recording

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source, tracker = open_recording(recording, max_frames=max_frames, load_depth=log_depth)
    stream = rr.RecordingStream("arkit", recording_id=str(Path(recording).resolve()))
    tmp = path.with_name(f".{path.name}.part")
    stream.save(str(tmp))
    K = source.intrinsics
    stream.log("world", rr.ViewCoordinates.RIGHT_HAND_Y_UP, static=True)
    stream.log("world/camera", rr.Pinhole(image_from_camera=K.K, width=K.width, height=K.height,
                                           camera_xyz=rr.ViewCoordinates.RDF), static=True)
    try:
        with source:
            for frame in source:
                out = tracker.track(frame)
                stream.set_time("frame", sequence=int(frame.index))
                stream.set_time("time", duration=float(frame.timestamp_s))
                T = out.camera.T_world_camera
                if out.camera.is_tracking:
                    stream.log("world/camera", rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]))
                stream.log("world/camera/image", rr.Image(frame.image_rgb).compress(jpeg_quality=jpeg_quality))
                if log_depth and frame.depth_m is not None:
                    stream.log("world/camera/depth", rr.DepthImage(frame.depth_m, meter=1.0))
                live = [t for t in out.trackables if t.kind != "plane"]
                stream.log("world/trackables", rr.Points3D(np.array([t.T_world_local[:3, 3] for t in live]).reshape(-1, 3),
                                                           labels=[t.id for t in live], radii=0.01))
                changed = set(out.changes.added) | set(out.changes.updated)
                for t in out.trackables:
                    if t.kind == "plane" and (t.id in changed or frame.index == 0):
                        m = plane_mesh(t)
                        if m is not None:
                            v = (t.T_world_local[:3, :3] @ np.asarray(m.vertices, np.float64).T).T + t.T_world_local[:3, 3]
                            stream.log(f"world/planes/{t.id.replace(':', '_')}",
                                       rr.Mesh3D(vertex_positions=v, triangle_indices=m.faces,
                                                 vertex_colors=np.asarray(m.colors)))
                for tid in out.changes.removed:
                    if tid.startswith("plane"):
                        stream.log(f"world/planes/{tid.replace(':', '_')}", rr.Clear(recursive=True))
        stream.flush()
        stream.disconnect()
    except BaseException:
        stream.disconnect()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        tracker.close()
    tmp.replace(path)
    return path
