"""Every reader with recorded poses converts its format's pose and axis conventions correctly.

For each format a tiny capture is written from the format's public specification: three views
of one world-anchored box rendered with known OpenCV camera-to-world poses, the poses converted
into the format's own convention (OpenGL axes, world-to-camera, body frame + extrinsics, angle-axis,
quaternion orders, ...) and its depth in the format's units. Each capture is read back with
``open_source`` and the box is rendered again with the *recorded* pose and intrinsics the reader
returns: it must cover the same pixels as the box in the image the reader returns (silhouette IoU
> 0.95, centroid within 1 px) and the reader's depth must match the rendered depth.
"""

import json
import zipfile

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.pose import CV_FROM_GL, invert, matrix_to_quat_wxyz, matrix_to_rotvec, rotvec_to_matrix
from arkit.io.sources import open_source
from arkit.render import DrawItem, box_mesh, create_renderer

W, H = 160, 120
K = Intrinsics(W, H, 150.0, 152.0, 81.3, 58.7)
DEPTH_SIZE = (80, 60)  # formats whose depth is stored at another resolution
BOX_COLOR = (0.9, 0.6, 0.2)
T_WORLD_BOX = np.eye(4)
T_WORLD_BOX[:3, :3] = rotvec_to_matrix([0.3, 0.5, 0.2])
T_WORLD_BOX[:3, 3] = [0.4, 2.0, 0.8]
TIMES_S = [1.0, 1.1, 1.2]


def look_at(eye, target, roll_rad):
    """Camera-to-world, OpenCV axes, looking from ``eye`` at ``target`` (world z up), rolled."""
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z]) @ rotvec_to_matrix([0.0, 0.0, roll_rad])
    T[:3, 3] = eye
    return T


CENTRE = T_WORLD_BOX[:3, 3]
TRUE_POSES = [  # the box sits off the image centre, seen from three sides
    look_at(CENTRE + [-0.3, -1.4, 0.3], CENTRE + [0.15, 0.0, 0.08], 0.2),
    look_at(CENTRE + [1.2, -0.9, 0.6], CENTRE + [0.3, -0.2, 0.25], -0.4),
    look_at(CENTRE + [-1.3, 0.4, -0.5], CENTRE + [0.0, -0.15, 0.12], 2.5),
]


def box_item():
    return DrawItem(box_mesh((0.6, 0.4, 0.3), BOX_COLOR, unlit=True), T_WORLD_BOX)


@pytest.fixture(scope="module")
def views():
    """[(image_rgb (H, W, 3) uint8, depth_m (H, W), depth_small_m (60, 80), T_world_camera)] x 3."""
    Ks = K.scaled(*DEPTH_SIZE)
    out = []
    with create_renderer(W, H, backend="software") as r, create_renderer(*DEPTH_SIZE, backend="software") as rs:
        for T in TRUE_POSES:
            o = r.render([box_item()], K, T)
            img = np.where(o.rgba[:, :, 3:] > 127, o.rgba[:, :, :3], 0).astype(np.uint8)
            out.append((img, o.depth_m, rs.render([box_item()], Ks, T).depth_m, T))
    return out


def mm(depth_m, scale=1000.0):
    return np.round(np.asarray(depth_m) * scale).astype(np.uint16)


def bgr(img):
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)


def quat_xyzw(R):
    w, x, y, z = matrix_to_quat_wxyz(R)
    return [x, y, z, w]


# -- writers: one per format, each from the format's own specification --------------------------
def write_tum(root, views):
    """TUM RGB-D: groundtruth.txt 'ts tx ty tz qx qy qz qw' camera-to-world; depth = value / 5000."""
    from arkit.io.intrinsics_files import save_intrinsics

    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb, dep, gt = [], [], []
    for t, (img, depth, _, T) in zip(TIMES_S, views):
        cv2.imwrite(str(root / "rgb" / f"{t:.6f}.png"), bgr(img))
        cv2.imwrite(str(root / "depth" / f"{t:.6f}.png"), mm(depth, 5000.0))
        rgb.append(f"{t:.6f} rgb/{t:.6f}.png")
        dep.append(f"{t:.6f} depth/{t:.6f}.png")
        gt.append(" ".join(f"{v:.9f}" for v in [t, *T[:3, 3], *quat_xyzw(T[:3, :3])]))
    (root / "rgb.txt").write_text("# timestamp filename\n" + "\n".join(rgb) + "\n")
    (root / "depth.txt").write_text("\n".join(dep) + "\n")
    (root / "groundtruth.txt").write_text("# timestamp tx ty tz qx qy qz qw\n" + "\n".join(gt) + "\n")
    save_intrinsics(K, root / "intrinsics.yaml")
    return root


T_BS = np.eye(4)  # EuRoC camera-to-body extrinsics
T_BS[:3, :3] = rotvec_to_matrix([0.1, -1.2, 1.5])
T_BS[:3, 3] = [-0.02, -0.06, 0.01]


def write_euroc(root, views):
    """EuRoC: body poses (p xyz, q wxyz) in state_groundtruth_estimate0, camera = body @ T_BS."""
    cam = root / "mav0" / "cam0"
    (cam / "data").mkdir(parents=True)
    gt_dir = root / "mav0" / "state_groundtruth_estimate0"
    gt_dir.mkdir()
    rows, gt = ["#timestamp [ns],filename"], ["#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], "
                                              "q_RS_x [], q_RS_y [], q_RS_z []"]
    for t, (img, _, _, T) in zip(TIMES_S, views):
        ns = 1403636579000000000 + int(round(t * 1e9))
        cv2.imwrite(str(cam / "data" / f"{ns}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
        rows.append(f"{ns},{ns}.png")
        T_world_body = T @ invert(T_BS)
        gt.append(f"{ns}," + ",".join(f"{v:.12f}" for v in [*T_world_body[:3, 3],
                                                             *matrix_to_quat_wxyz(T_world_body[:3, :3])]))
    (cam / "data.csv").write_text("\n".join(rows) + "\n")
    (gt_dir / "data.csv").write_text("\n".join(gt) + "\n")
    data = ", ".join(repr(float(v)) for v in T_BS.ravel())
    (cam / "sensor.yaml").write_text(
        f"sensor_type: camera\nT_BS:\n  cols: 4\n  rows: 4\n  data: [{data}]\nrate_hz: 10\n"
        f"resolution: [{W}, {H}]\ncamera_model: pinhole\nintrinsics: [{K.fx}, {K.fy}, {K.cx}, {K.cy}]\n"
        f"distortion_model: radial-tangential\ndistortion_coefficients: [0.0, 0.0, 0.0, 0.0]\n")
    return root


def write_nerfstudio(root, views):
    """nerfstudio: transform_matrix is camera-to-world with OpenGL camera axes; depth in mm."""
    (root / "images").mkdir(parents=True)
    frames = []
    for i, (img, depth, _, T) in enumerate(views):
        cv2.imwrite(str(root / "images" / f"frame_{i + 1:05d}.png"), bgr(img))
        cv2.imwrite(str(root / "images" / f"depth_{i + 1:05d}.png"), mm(depth))
        frames.append({"file_path": f"images/frame_{i + 1:05d}.png", "depth_file_path": f"images/depth_{i + 1:05d}.png",
                       "transform_matrix": (T @ CV_FROM_GL).tolist()})
    meta = {"camera_model": "OPENCV", "fl_x": K.fx, "fl_y": K.fy, "cx": K.cx, "cy": K.cy, "w": W, "h": H,
            "frames": frames}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


def write_stray_scanner(root, views):
    """Stray Scanner: rgb.mp4, odometry.csv 'timestamp, frame, x, y, z, qx, qy, qz, qw' (camera-to-world,
    OpenCV axes: the app already rotated ARKit's pose), depth/NNNNNN.png mm at a lower resolution."""
    from arkit.io.video_writer import VideoWriter

    (root / "depth").mkdir(parents=True)
    with VideoWriter(root / "rgb.mp4", 10, crf=4) as w:
        for img, *_ in views:
            w.write(img)
    np.savetxt(root / "camera_matrix.csv", K.K, delimiter=",")
    lines = ["timestamp, frame, x, y, z, qx, qy, qz, qw"]
    for i, (t, (_, _, small, T)) in enumerate(zip(TIMES_S, views)):
        lines.append(", ".join([f"{t:.6f}", f"{i:06d}"] + [f"{v:.9f}" for v in [*T[:3, 3], *quat_xyzw(T[:3, :3])]]))
        cv2.imwrite(str(root / "depth" / f"{i:06d}.png"), mm(small))
    (root / "odometry.csv").write_text("\n".join(lines) + "\n")
    return root


def write_sevenscenes(root, views):
    """7-Scenes: frame-N.pose.txt 4x4 camera-to-world; camera-intrinsics.txt is for 640x480."""
    root.mkdir(parents=True)
    np.savetxt(root / "camera-intrinsics.txt", K.scaled(640, 480).K)
    for i, (img, depth, _, T) in enumerate(views):
        cv2.imwrite(str(root / f"frame-{i:06d}.color.png"), bgr(img))
        cv2.imwrite(str(root / f"frame-{i:06d}.depth.png"), mm(depth))
        np.savetxt(root / f"frame-{i:06d}.pose.txt", T)
    return root


def write_kitti(root, views):
    """KITTI odometry: calib.txt 'P0: 12 numbers', poses.txt 3x4 camera-to-world rows, image_0 grey."""
    (root / "image_0").mkdir(parents=True)
    P0 = np.hstack([K.K, np.zeros((3, 1))])
    (root / "calib.txt").write_text("P0: " + " ".join(f"{v:.9e}" for v in P0.ravel()) + "\n")
    poses = []
    for i, (img, _, _, T) in enumerate(views):
        cv2.imwrite(str(root / "image_0" / f"{i:06d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
        poses.append(" ".join(f"{v:.9e}" for v in T[:3, :].ravel()))
    (root / "poses.txt").write_text("\n".join(poses) + "\n")
    (root / "times.txt").write_text("\n".join(f"{t:.6e}" for t in TIMES_S) + "\n")
    return root


def write_scannet(root, views):
    """ScanNet SensReader export: pose/<i>.txt camera-to-world, depth mm at its own intrinsics."""
    for d in ("color", "depth", "pose", "intrinsic"):
        (root / d).mkdir(parents=True)
    for name, Kx in (("intrinsic_color.txt", K), ("intrinsic_depth.txt", K.scaled(*DEPTH_SIZE))):
        M = np.eye(4)
        M[:3, :3] = Kx.K
        np.savetxt(root / "intrinsic" / name, M)
    for i, (img, _, small, T) in enumerate(views):
        cv2.imwrite(str(root / "color" / f"{i}.jpg"), bgr(img), [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(root / "depth" / f"{i}.png"), mm(small))
        np.savetxt(root / "pose" / f"{i}.txt", T)
    return root


def write_arkitscenes(root, views):
    """ARKitScenes: lowres_wide.traj 'ts rx ry rz tx ty tz', angle-axis + translation world-to-camera."""
    vid = "42445173"
    fr = root / vid / f"{vid}_frames"
    for d in ("lowres_wide", "lowres_depth", "lowres_wide_intrinsics"):
        (fr / d).mkdir(parents=True)
    traj = []
    for t, (img, depth, _, T) in zip(TIMES_S, views):
        name = f"{vid}_{100 + t:.3f}"
        cv2.imwrite(str(fr / "lowres_wide" / f"{name}.png"), bgr(img))
        cv2.imwrite(str(fr / "lowres_depth" / f"{name}.png"), mm(depth))
        (fr / "lowres_wide_intrinsics" / f"{name}.pincam").write_text(f"{W} {H} {K.fx} {K.fy} {K.cx} {K.cy}")
        T_cw = invert(T)
        traj.append(" ".join(f"{v:.9f}" for v in [100 + t, *matrix_to_rotvec(T_cw[:3, :3]), *T_cw[:3, 3]]))
    (fr / "lowres_wide.traj").write_text("\n".join(traj) + "\n")
    return root / vid


def write_record3d(root, views):
    """Record3D .r3d: zip with metadata (K column-major, poses [qx qy qz qw tx ty tz] OpenGL camera axes,
    camera-to-world) and rgbd/<i>.jpg + rgbd/<i>.depth (float32 metres, LZFSE when available)."""
    try:
        import liblzfse

        pack = liblzfse.compress
    except ImportError:
        pack = bytes  # the reader also accepts uncompressed depth
    root.mkdir(parents=True)
    poses = []
    for T in (v[3] for v in views):
        T_gl = T @ CV_FROM_GL
        poses.append([*quat_xyzw(T_gl[:3, :3]), *T_gl[:3, 3]])
    meta = {"w": W, "h": H, "K": K.K.T.ravel().tolist(), "dw": DEPTH_SIZE[0], "dh": DEPTH_SIZE[1], "fps": 10,
            "poses": poses, "frameTimestamps": TIMES_S}
    path = root / "capture.r3d"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata", json.dumps(meta))
        for i, (img, _, small, _) in enumerate(views):
            z.writestr(f"rgbd/{i}.jpg", cv2.imencode(".jpg", bgr(img), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
            z.writestr(f"rgbd/{i}.depth", pack(np.ascontiguousarray(small, np.float32).tobytes()))
    return path


FORMATS = {
    "tum": (write_tum, "TumRgbdSource"),
    "euroc": (write_euroc, "EurocSource"),
    "nerfstudio": (write_nerfstudio, "NerfstudioSource"),
    "stray_scanner": (write_stray_scanner, "StrayScannerSource"),
    "sevenscenes": (write_sevenscenes, "SevenScenesSource"),
    "kitti": (write_kitti, "KittiOdometrySource"),
    "scannet": (write_scannet, "ScanNetSource"),
    "arkitscenes": (write_arkitscenes, "ARKitScenesSource"),
    "record3d": (write_record3d, "Record3DSource"),
}


# -- checks ---------------------------------------------------------------------------------------
def box_mask(image_rgb):
    """Pixels of the box in an image (box colour on black; grey images work too)."""
    gray = cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2GRAY)
    return gray > 80


def iou_and_shift(a, b):
    inter, union = np.logical_and(a, b).sum(), np.logical_or(a, b).sum()
    if not (a.any() and b.any()):
        return 0.0, float("inf")
    ca = np.argwhere(a).mean(axis=0)
    cb = np.argwhere(b).mean(axis=0)
    return inter / max(union, 1), float(np.linalg.norm(ca - cb))


def test_views_are_discriminating(views):
    """The wrong conventions a reader could apply move the box far: the test below can fail."""
    with create_renderer(W, H, backend="software") as r:
        for img, _, _, T in views:
            mask = box_mask(img)
            assert 1500 < mask.sum() < 0.5 * W * H  # big enough for a precise IoU, not filling the image
            # OpenGL axes kept, world-to-camera taken as camera-to-world, 180 degree roll, extrinsics dropped
            for wrong in (T @ CV_FROM_GL, invert(T), T @ np.diag([-1.0, -1.0, 1.0, 1.0]), T @ invert(T_BS)):
                drawn = r.render([box_item()], K, wrong).rgba[:, :, 3] > 127
                assert iou_and_shift(mask, drawn)[0] < 0.5


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_recorded_poses_put_the_box_where_the_images_show_it(fmt, views, tmp_path):
    writer, reader_class = FORMATS[fmt]
    uri = writer(tmp_path / fmt, views)
    with open_source(uri) as src:
        assert type(src).__name__ == reader_class
        frames = list(src)
    assert len(frames) == len(views)
    with create_renderer(W, H, backend="software") as r:
        for f, (img, _, _, _) in zip(frames, views):
            assert f.T_world_camera_recorded is not None, f"{fmt}: frame {f.index} has no recorded pose"
            seen = box_mask(f.image_rgb)
            assert iou_and_shift(seen, box_mask(img))[0] > 0.9  # the reader returned this view's image
            o = r.render([box_item()], f.intrinsics, f.T_world_camera_recorded)
            drawn = o.rgba[:, :, 3] > 127
            iou, shift_px = iou_and_shift(seen, drawn)
            assert iou > 0.95 and shift_px < 1.0, f"{fmt} frame {f.index}: IoU {iou:.3f}, centre off {shift_px:.2f} px"
            if f.depth_m is not None:
                both = seen & drawn & (f.depth_m > 0) & (o.depth_m > 0)
                assert both.sum() > 0.6 * drawn.sum()  # depth is there (a little is lost at edges and to resampling)
                rel = np.abs(f.depth_m[both] - o.depth_m[both]) / o.depth_m[both]
                assert np.median(rel) < 0.02, f"{fmt} frame {f.index}: depth off by {np.median(rel):.1%}"
