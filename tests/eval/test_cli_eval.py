"""Smoke tests of ``arkit eval trajectory``."""

import json

import numpy as np

from arkit.cli import main
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.io.trajectory_formats import Trajectory, write_trajectory


def make_pair(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    s = np.linspace(0, 2 * np.pi, n)
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, 3] = np.stack([np.cos(s), np.sin(2 * s), 0.3 * s], axis=1)
    for i in range(n):
        T[i, :3, :3] = rotvec_to_matrix([0.1 * s[i], 0.5 * s[i], 0.0])
    gt = Trajectory(10.0 + 0.1 * np.arange(n), T)
    noisy = np.array(T)
    noisy[:, :3, 3] += rng.normal(size=(n, 3)) * 0.01
    est = Trajectory(gt.timestamps_s + 0.003, noisy).transformed(from_rt(rotvec_to_matrix([0, 0, 1.0]), [1, 2, 3]))
    write_trajectory(gt, tmp_path / "gt.csv", "euroc")
    write_trajectory(est, tmp_path / "est.txt", "tum")
    return tmp_path / "est.txt", tmp_path / "gt.csv"


def test_eval_trajectory_prints_table_and_writes_json(tmp_path, capsys):
    est, gt = make_pair(tmp_path)
    out = tmp_path / "res.json"
    rc = main(["eval", "trajectory", str(est), str(gt), "--align", "se3", "--max-diff", "0.02",
               "--rpe-delta", "2", "--rpe-unit", "frames", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "ATE (m)" in text and "RPE trans (m)" in text and "RPE rot (deg)" in text
    doc = json.loads(out.read_text())
    assert doc["ate"]["num_pairs"] == 60 and doc["rpe"]["num_pairs"] == 29
    assert 0.005 < doc["ate"]["rmse_m"] < 0.03  # the 1 cm noise, not the 1 rad / 3.7 m offset


def test_eval_trajectory_bad_input_returns_error(tmp_path, capsys):
    est, gt = make_pair(tmp_path)
    assert main(["eval", "trajectory", str(est), str(tmp_path / "missing.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # stamps that never match: a clear error, not a traceback
    assert main(["eval", "trajectory", str(est), str(gt), "--offset", "100"]) == 2
    assert "no matching timestamps" in capsys.readouterr().err


def test_eval_trajectory_rejects_fractional_frame_delta(tmp_path, capsys):
    est, gt = make_pair(tmp_path)
    assert main(["eval", "trajectory", str(est), str(gt), "--rpe-delta", "1.5"]) == 2
    assert "integer" in capsys.readouterr().err
    # a delta in metres may be fractional (and an explicit --gt-format is honoured)
    assert main(["eval", "trajectory", str(est), str(gt), "--gt-format", "euroc", "--rpe-delta", "0.5",
                 "--rpe-unit", "m", "--align", "sim3"]) == 0
