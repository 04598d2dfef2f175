"""Writing a sequence in the TUM RGB-D layout (what the synthetic generator produces).

::

    out_dir/
      rgb/<t>.png         8-bit RGB
      depth/<t>.png       16-bit, metres x 5000, 0 = invalid
      rgb.txt, depth.txt  "timestamp filename" lines after 3 comment lines
      groundtruth.txt     "timestamp tx ty tz qx qy qz qw" (T_world_camera, OpenCV camera axes)
      intrinsics.yaml     arkit's Intrinsics.to_dict()
      scene.json          scene description and ground truth of every marker/plane/target
      DONE                written last

Timestamps are written with 6 decimals; file names are ``f"{t:.6f}.png"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from arkit.core.pose import matrix_to_quat_wxyz

#: TUM depth scale: stored uint16 = metres * DEPTH_SCALE.
DEPTH_SCALE = 5000.0
#: Name of the marker file written last into a finished sequence folder.
DONE_FILE = "DONE"


def stamp(t_s: float) -> str:
    """Timestamp text used in lists and file names."""
    return f"{t_s:.6f}"


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """float32 metres (0 = invalid) -> uint16 ``round(m * 5000)``; out of range -> 0 (invalid)."""
    d = np.asarray(depth_m, dtype=np.float64) * DEPTH_SCALE
    out = np.rint(d)
    out[~np.isfinite(out) | (out <= 0) | (out > 65535)] = 0
    return out.astype(np.uint16)


def write_png(path: Path, image: np.ndarray, compression: int = 1) -> None:
    """Write an RGB uint8 (H, W, 3) or a uint16/uint8 (H, W) image as PNG."""
    import cv2

    img = image
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]):
        from arkit.core.errors import InputFileError

        raise InputFileError(f"cannot write {path}; check the folder is writable and the disk not full")


def write_lists(out_dir: Path, timestamps, name: str = "sequence") -> None:
    """Write ``rgb.txt`` and ``depth.txt`` for frames at ``timestamps`` (seconds)."""
    for kind, title in (("rgb", "color images"), ("depth", "depth maps")):
        lines = [f"# {title}", f"# file: '{name}'", "# timestamp filename"]
        lines += [f"{stamp(t)} {kind}/{stamp(t)}.png" for t in timestamps]
        (out_dir / f"{kind}.txt").write_text("\n".join(lines) + "\n")


def write_groundtruth(path: Path, timestamps, T_world_camera, name: str = "sequence") -> None:
    """``timestamp tx ty tz qx qy qz qw`` lines for camera-to-world poses (N, 4, 4)."""
    lines = ["# ground truth trajectory", f"# file: '{name}'", "# timestamp tx ty tz qx qy qz qw"]
    for t, T in zip(timestamps, np.asarray(T_world_camera)):
        w, x, y, z = matrix_to_quat_wxyz(T[:3, :3])
        tx, ty, tz = T[:3, 3]
        lines.append(f"{stamp(t)} {tx:.9f} {ty:.9f} {tz:.9f} {x:.9f} {y:.9f} {z:.9f} {w:.9f}")
    path.write_text("\n".join(lines) + "\n")


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


def read_groundtruth(path) -> tuple:
    """Read ``groundtruth.txt``: ``(timestamps (N,), T_world_camera (N, 4, 4))``."""
    from arkit.core.pose import from_rt, quat_wxyz_to_matrix

    rows = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    a = np.array(rows, dtype=np.float64).reshape(-1, 8)
    T = np.stack([from_rt(quat_wxyz_to_matrix([r[7], r[4], r[5], r[6]]), r[1:4]) for r in a]) if len(a) else np.zeros((0, 4, 4))
    return a[:, 0], T
