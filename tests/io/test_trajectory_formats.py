"""Trajectory type and the TUM / KITTI / EuRoC readers and writers."""

import numpy as np
import pytest

from arkit.core.errors import InputFileError, TrajectoryError
from arkit.core.pose import quat_wxyz_to_matrix, matrix_to_quat_wxyz, rotvec_to_matrix
from arkit.io.trajectory_formats import (
    Trajectory,
    detect_format,
    read_euroc,
    read_kitti,
    read_trajectory,
    read_tum,
    write_trajectory,
)


def random_trajectory(n=25, seed=0, t0=1305031102.160407, dt=0.0333):
    rng = np.random.default_rng(seed)
    T = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        T[i, :3, :3] = rotvec_to_matrix(rng.normal(size=3))
        T[i, :3, 3] = rng.normal(size=3) * 3
    t = t0 + dt * np.arange(n) + rng.uniform(0, 1e-3, n)
    return Trajectory(t, T, "random")


def test_trajectory_type_basics():
    traj = random_trajectory(10)
    assert len(traj) == 10
    assert traj.positions.shape == (10, 3) and traj.T_world_camera.dtype == np.float64
    assert traj.poses is traj.T_world_camera
    with pytest.raises(ValueError):
        traj.T_world_camera[0, 0, 0] = 5.0  # read-only
    part = traj[2:5]
    assert isinstance(part, Trajectory) and len(part) == 3
    np.testing.assert_array_equal(part.timestamps_s, traj.timestamps_s[2:5])
    t, T = traj[3]
    assert t == traj.timestamps_s[3] and T.shape == (4, 4)
    assert len(traj[traj.timestamps_s > traj.timestamps_s[4]]) == 5
    # a (N, 3, 4) input gets its bottom row
    tr34 = Trajectory(traj.timestamps_s, traj.T_world_camera[:, :3, :])
    np.testing.assert_array_equal(tr34.T_world_camera, traj.T_world_camera)
    # quaternions agree with arkit.core.pose's scalar conversion
    for k in range(3):
        np.testing.assert_allclose(traj.quat_wxyz[k], matrix_to_quat_wxyz(traj.rotations[k]), atol=1e-12)
    rev = traj[::-1].sorted_by_time()
    np.testing.assert_array_equal(rev.timestamps_s, traj.timestamps_s)


def test_trajectory_rejects_bad_arrays():
    with pytest.raises(TrajectoryError, match="timestamps"):
        Trajectory(np.zeros(3), np.tile(np.eye(4), (2, 1, 1)))
    with pytest.raises(TrajectoryError, match="4, 4"):
        Trajectory(np.zeros(2), np.zeros((2, 3, 3)))
    T = np.tile(np.eye(4), (2, 1, 1))
    T[1, 0, 3] = np.nan
    with pytest.raises(TrajectoryError, match="NaN"):
        Trajectory(np.zeros(2), T)
    with pytest.raises(TrajectoryError, match="zero norm"):
        Trajectory.from_positions_quat_wxyz([0.0], [[0, 0, 0]], [[0, 0, 0, 0]])


@pytest.mark.parametrize("fmt", ["tum", "kitti", "euroc"])
def test_round_trip(tmp_path, fmt):
    traj = random_trajectory(40, seed=3)
    path = tmp_path / ("traj.csv" if fmt == "euroc" else "traj.txt")
    times = tmp_path / "times.txt" if fmt == "kitti" else None
    write_trajectory(traj, path, fmt, times_path=times)
    assert detect_format(path) == fmt
    back = read_trajectory(path, times_path=times)
    assert len(back) == len(traj)
    np.testing.assert_allclose(back.T_world_camera, traj.T_world_camera, atol=1e-12)
    # EuRoC stores integer nanoseconds
    np.testing.assert_allclose(back.timestamps_s, traj.timestamps_s, rtol=0, atol=1e-6 if fmt == "euroc" else 0)
    assert not list(tmp_path.glob(".*part*")), "temporary files left behind"


def test_kitti_without_times_uses_index(tmp_path):
    traj = random_trajectory(5)
    write_trajectory(traj, tmp_path / "p.txt", "kitti")
    back = read_kitti(tmp_path / "p.txt")
    np.testing.assert_array_equal(back.timestamps_s, np.arange(5.0))


def test_tum_layout_is_xyzw(tmp_path):
    q_wxyz = np.array([0.9, 0.1, -0.3, 0.2])
    q_wxyz /= np.linalg.norm(q_wxyz)
    w, x, y, z = q_wxyz
    (tmp_path / "a.txt").write_text(f"# comment\n\n12.5 1 2 3 {x} {y} {z} {w}\n")
    traj = read_tum(tmp_path / "a.txt")
    assert traj.timestamps_s[0] == 12.5
    np.testing.assert_allclose(traj.positions[0], [1, 2, 3])
    np.testing.assert_allclose(traj.rotations[0], quat_wxyz_to_matrix(q_wxyz), atol=1e-12)


def test_euroc_layout_is_wxyz_and_nanoseconds(tmp_path):
    q_wxyz = np.array([0.5, 0.5, -0.5, 0.5])
    text = ("#timestamp [ns], p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], v\n"
            "1403715524907143168,0.5,2.0,0.9,0.5,0.5,-0.5,0.5,0.1\n")
    (tmp_path / "gt.csv").write_text(text)
    traj = read_euroc(tmp_path / "gt.csv")
    assert abs(traj.timestamps_s[0] - 1403715524.907143168) < 1e-6
    np.testing.assert_allclose(traj.rotations[0], quat_wxyz_to_matrix(q_wxyz), atol=1e-12)
    np.testing.assert_allclose(traj.positions[0], [0.5, 2.0, 0.9])


def test_kitti_layout_is_row_major(tmp_path):
    M = np.arange(12, dtype=float).reshape(3, 4)
    M[:, :3] = rotvec_to_matrix([0.1, 0.2, 0.3])
    (tmp_path / "k.txt").write_text(" ".join(repr(float(v)) for v in M.reshape(-1)) + "\n")
    traj = read_kitti(tmp_path / "k.txt")
    np.testing.assert_array_equal(traj.T_world_camera[0, :3, :], M)


@pytest.mark.parametrize(
    "fmt,content,line,what",
    [
        ("tum", "# c\n1 2 3 4 0 0 0 1\n1 2 3 4 0 0 1\n", 3, "8 values"),
        ("tum", "1 2 3 4 0 0 0 1\n1 2 x 4 0 0 0 1\n", 2, "not a number"),
        ("tum", "1 2 3 4 0 0 0 0\n", 1, "zero norm"),
        ("tum", "1 2 3 4 0 0 0 1\n2 nan 3 4 0 0 0 1\n", 2, "NaN"),
        ("kitti", "1 0 0 0 0 1 0 0 0 0 1 0\n\n1 0 0 0 0 1 0 0 0 0 1\n", 3, "12 values"),
        ("euroc", "#timestamp [ns],x\n100,1,2,3,1,0,0,0\n200,1,2,3,1,0\n", 3, "at least 8"),
        ("euroc", "#timestamp [ns],x\nabc,1,2,3,1,0,0,0\n", 2, "nanoseconds"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, fmt, content, line, what):
    path = tmp_path / ("bad.csv" if fmt == "euroc" else "bad.txt")
    path.write_text(content)
    with pytest.raises(InputFileError) as info:
        read_trajectory(path, fmt)
    msg = str(info.value)
    assert f"{path}:{line}" in msg and what in msg


def test_missing_empty_and_unknown(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_trajectory(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(InputFileError, match="no poses"):
        read_trajectory(tmp_path / "empty.txt", "tum")
    (tmp_path / "five.txt").write_text("1 2 3 4 5\n")
    with pytest.raises(InputFileError, match="cannot tell"):
        read_trajectory(tmp_path / "five.txt")
    with pytest.raises(InputFileError, match="unknown trajectory format"):
        read_trajectory(tmp_path / "five.txt", "ply")


def test_kitti_times_count_must_match(tmp_path):
    traj = random_trajectory(4)
    write_trajectory(traj, tmp_path / "p.txt", "kitti")
    (tmp_path / "times.txt").write_text("0.0\n0.1\n")
    with pytest.raises(InputFileError, match="2 timestamps"):
        read_kitti(tmp_path / "p.txt", tmp_path / "times.txt")


def test_write_is_atomic_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "t.txt"
    write_trajectory(random_trajectory(3), path, "tum")
    before = path.read_text()

    class Boom(Trajectory):
        @property
        def quat_wxyz(self):
            raise RuntimeError("boom")

    bad = Boom(np.zeros(1), np.eye(4)[None])
    with pytest.raises(RuntimeError):
        write_trajectory(bad, path, "tum")
    assert path.read_text() == before


def test_real_files_detected_and_read(shared_data):
    d = shared_data("evo_trajectories")
    tum = read_trajectory(d / "freiburg1_xyz-groundtruth.txt")
    assert len(tum) == 3000 and tum.timestamps_s[0] > 1.3e9
    kitti = read_trajectory(d / "KITTI_00_gt.txt", times_path=d / "KITTI_00_gt_times.txt")
    assert len(kitti) == 4541 and abs(kitti.timestamps_s[1] - 0.1037359) < 1e-9
    euroc = read_trajectory(d / "V102_groundtruth.csv")
    assert detect_format(d / "V102_groundtruth.csv") == "euroc"
    assert len(euroc) == 16702 and 1.40371552e9 < euroc.timestamps_s[0] < 1.40371553e9
    # rotations are (close to) proper rotations after reading
    R = euroc.rotations[:100]
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
