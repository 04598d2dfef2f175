"""Every sample scene file loads and builds its session (the smoke test of the samples)."""

from pathlib import Path

import pytest

from arkit.scene.scene_file import load_scene
from arkit.session import Session

ROOT = Path(__file__).resolve().parents[1]
SCENES = sorted((ROOT / "samples").glob("*/scene.yaml"))


@pytest.mark.parametrize("scene", SCENES, ids=[p.parent.name for p in SCENES])
def test_sample_scene_loads(scene, shared_data):
    text = scene.read_text()
    if "shared:" in text:
        shared_data()  # skips when the real-data folder is absent
    sf = load_scene(scene)
    assert sf.scene.roots(), "a sample places some content"
    with Session.from_scene(sf, render=False) as s:
        assert s.tracker is not None


def test_board_sample_runs_on_its_builtin_sequence(tmp_path):
    from arkit.runner import process
    from arkit.synthetic.generator import generate_sequence

    seq = generate_sequence("marker_board", tmp_path / "seq", num_frames=6, width=320, height=240,
                            texture_px_per_m=128)
    session = Session.from_scene(ROOT / "samples" / "board_model" / "scene.yaml")
    from arkit.io.sources import open_source

    with open_source(str(seq)) as src, session:
        summary = process(session, src)
    assert summary.tracked_frames == 6
