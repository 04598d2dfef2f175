"""Exports of a recording: glTF scene, trackables JSON, trajectories, rerun file, `arkit export`."""

import json

import numpy as np
import pytest

from arkit.cli import main
from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.core.results import FrameResult
from arkit.core.trackables import (Anchor, CameraState, MarkerTrackable, PlaneAlignment, PlaneTrackable,
                                   TrackableChanges, TrackableState, TrackingState)
from arkit.export.gltf import export_gltf, triangulate_polygon
from arkit.export.json_export import export_json
from arkit.export.snapshot import recording_state
from arkit.io.trajectory_formats import read_trajectory
from arkit.recording.recorder import Recorder

L_SHAPE = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], dtype=np.float64) - 0.5
K = Intrinsics(32, 24, 30.0, 30.0, 15.5, 11.5)
N = 6


def _poses(n):
    rng = np.random.default_rng(0)
    return [from_rt(rotvec_to_matrix(rng.normal(0, 0.2, 3)), rng.normal(0, 0.5, 3)) for _ in range(n)]


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """A hand-made recording: a floor plane that grows, a marker, a world anchor; frame 2 is LOST."""
    path = tmp_path_factory.mktemp("exp") / "rec"
    T_plane = from_rt(t=[0.0, -1.0, 2.0])
    T_marker = from_rt(rotvec_to_matrix([0.3, 0.0, 0.0]), [0.2, 0.1, 1.5])
    with Recorder(path, fps=30.0, lossless=True) as r:
        for i, T in enumerate(_poses(N)):
            img = np.full((24, 32, 3), 10 * i, np.uint8)
            poly = L_SHAPE * (1.0 + 0.1 * i)
            plane = PlaneTrackable("plane:1", "plane", T_plane, TrackableState.TRACKING, None,
                                   PlaneAlignment.HORIZONTAL_UP, "floor", (2.0, 2.0), poly)
            trackables = [plane]
            if i >= 1:
                trackables.append(MarkerTrackable("marker:4", "marker", T_marker, marker_id=4, size_m=0.1))
            if i == 3:
                trackables.append(PlaneTrackable("plane:2", "plane", T_plane))
            state = TrackingState.LOST if i == 2 else TrackingState.TRACKING
            result = FrameResult(i, i / 30.0, K, CameraState(T, state, "lost" if i == 2 else ""), tuple(trackables),
                                 TrackableChanges(removed=("plane:2",) if i == 4 else ()),
                                 (Anchor("anchor:sign", from_rt(t=[0, 0, 3.0])),))
            r.add(Frame(i, i / 30.0, img, K), result)
    return path, T_plane, T_marker


def test_triangulate_concave_polygon_covers_its_area():
    for poly in (L_SHAPE, L_SHAPE[::-1]):
        tris = triangulate_polygon(poly)
        assert tris.shape == (len(poly) - 2, 3)
        a, b, c = poly[tris[:, 0]], poly[tris[:, 1]], poly[tris[:, 2]]
        signed = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
        assert np.all(signed > 0) and np.isclose(signed.sum(), 3.0)


def test_state_keeps_latest_snapshots_and_tracked_poses(rec):
    path, _, _ = rec
    st = recording_state(path)
    assert st.frames == N
    assert [t.id for t in st.trackables] == ["plane:1", "marker:4"]   # plane:2 was removed
    assert np.array_equal(st.planes[0].polygon_xz, L_SHAPE * 1.5)
    assert len(st.T_world_camera) == N - 1
    expected = [T for i, T in enumerate(_poses(N)) if i != 2]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(st.T_world_camera, expected))
    early = recording_state(path, until_frame=1)
    assert early.frames == 2 and np.array_equal(early.planes[0].polygon_xz, L_SHAPE * 1.1)


def test_gltf_has_planes_trackables_anchors_in_world_coordinates(rec, tmp_path):
    import trimesh

    path, T_plane, _ = rec
    out = export_gltf(path, tmp_path / "scene.glb")
    scene = trimesh.load(out)
    names = set(scene.graph.nodes_geometry)
    assert {"plane:1", "marker:4", "marker:4/axes", "anchor:sign", "camera_path"} <= names
    T, geom = scene.graph["plane:1"]
    mesh = scene.geometry[geom]
    world = trimesh.transform_points(mesh.vertices, T)
    expected_xz = L_SHAPE * 1.5
    assert np.allclose(world[:, 1], T_plane[1, 3], atol=1e-6)          # the floor height
    assert np.isclose(mesh.area, 3.0 * 1.5 ** 2, rtol=1e-6)
    got = np.sort(world[:, [0, 2]] - T_plane[[0, 2], 3], axis=0)
    assert np.allclose(got, np.sort(expected_xz, axis=0), atol=1e-6)


def test_json_and_trajectory_exports(rec, tmp_path, capsys):
    path, T_plane, T_marker = rec
    rc = main(["export", str(path), "--json", str(tmp_path / "t.json"), "--gltf", str(tmp_path / "s.glb"),
               "--trajectory", str(tmp_path / "traj.txt"), "--trajectory-format", "kitti"])
    assert rc == 0 and "wrote glTF" in capsys.readouterr().out
    doc = json.loads((tmp_path / "t.json").read_text())   # strict JSON: NaN became null
    assert doc["format"] == "arkit-trackables" and doc["frames"] == N
    assert [p["id"] for p in doc["planes"]] == ["plane:1"] and doc["planes"][0]["label"] == "floor"
    assert doc["trackables"][0]["reprojection_error_px"] is None
    assert np.array_equal(np.array(doc["trackables"][0]["T_world_local"]), T_marker)
    assert doc["trackables"][0]["first_seen"] == 1 and doc["anchors"][0]["id"] == "anchor:sign"
    traj = read_trajectory(tmp_path / "traj.txt", "kitti")
    expected = np.stack([T for i, T in enumerate(_poses(N)) if i != 2])
    assert np.array_equal(traj.T_world_camera, expected)
    export_json(path, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == doc


def test_rerun_export(rec, tmp_path):
    pytest.importorskip("rerun")
    from arkit.export.rerun_export import export_rrd

    out = export_rrd(rec[0], tmp_path / "x.rrd")
    assert out.stat().st_size > 1000
    assert not list(tmp_path.glob(".*.part"))
