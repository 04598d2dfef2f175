"""Relocalisation: the bag-of-words keyframe index, and relocalisation after the camera looks away
from the mapped area and comes back (a generated ``look_away`` sequence, RGB-D and monocular).

"Returning" is defined from ground truth (see :mod:`arkit.tracking.vslam.synthetic_eval`): the
map at the first LOST frame is put into the ground-truth world with the alignment of the
trajectory tracked before the loss; a map point is visible in a frame when, with the
ground-truth pose, it projects into the image and agrees with the ground-truth depth there; the
overlap is the number visible over the median number visible in the tracked frames before the
loss. The returning frame is the first frame with overlap >= 0.3 after the view has
left the map (overlap < 0.3).
"""

import numpy as np
import pytest

from arkit.tracking.vslam.keyframe_database import KeyframeDatabase, Vocabulary, kmajority
from arkit.tracking.vslam.map import KeyFrame, Map


def _keyframe(i, desc):
    n = len(desc)
    return KeyFrame(i, 10 * i, np.eye(4), np.zeros((n, 2)), np.zeros(n, np.int32), desc, np.zeros(n))


def _noisy(desc, rng, n_flips=6):
    """Flip ``n_flips`` random bits of each descriptor (a slightly different view of the same points)."""
    bits = np.unpackbits(desc, axis=1)
    for row in bits:
        row[rng.choice(256, n_flips, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def test_kmajority_is_seeded_and_separates_clusters():
    rng = np.random.default_rng(0)
    centres = rng.integers(0, 256, (4, 32), dtype=np.uint8)
    desc = np.concatenate([_noisy(np.repeat(c[None], 50, 0), rng, 10) for c in centres])
    a, la = kmajority(desc, 4, np.random.default_rng(1))
    b, lb = kmajority(desc, 4, np.random.default_rng(1))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    # each true cluster lands in exactly one label
    for k in range(4):
        assert len(np.unique(la[50 * k: 50 * (k + 1)])) == 1
    assert len(np.unique(la)) == 4


def test_vocabulary_words_are_stable_for_similar_descriptors():
    rng = np.random.default_rng(2)
    desc = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    voc = Vocabulary(branching=8, depth=2, seed=0).train(desc)
    w = voc.words(desc)
    assert w.min() >= 0 and w.max() < voc.n_words == 64
    assert len(np.unique(w)) > 40  # the words are used
    assert np.array_equal(voc.words(desc), w)  # deterministic


def test_database_retrieves_the_keyframe_seen_again():
    rng = np.random.default_rng(3)
    m = Map()
    kf_desc = [rng.integers(0, 256, (400, 32), dtype=np.uint8) for _ in range(12)]
    for i, d in enumerate(kf_desc):
        m.add_keyframe(_keyframe(i, d))
    db = KeyframeDatabase(branching=8, depth=3, seed=0)
    for target in (0, 5, 11):
        # 60% of the keyframe's features seen again with bit noise, 40% new clutter
        seen = _noisy(kf_desc[target][rng.choice(400, 240, replace=False)], rng)
        q = np.concatenate([seen, rng.integers(0, 256, (160, 32), dtype=np.uint8)])
        best = db.query(m, q, n=3)
        assert best[0][1].id == target, [(s, kf.id) for s, kf in best]
        assert best[0][0] > best[1][0]
    # keyframes removed from the map are not returned
    m.keyframes = [kf for kf in m.keyframes if kf.id != 5]
    seen = _noisy(kf_desc[5][:240], rng)
    assert all(kf.id != 5 for _, kf in db.query(m, seen, n=12))


def test_database_on_an_empty_map_returns_nothing():
    db = KeyframeDatabase()
    assert db.query(Map(), np.zeros((10, 32), np.uint8)) == []


# -- relocalisation on a generated sequence -----------------------------------------------------
N_FRAMES, W, H = 160, 320, 240


@pytest.fixture(scope="module")
def look_away_folder(tmp_path_factory):
    """The look_away recipe on a shorter schedule: orbit 0.6 s, turn away to a bare wall (1.5 s),
    hold 0.4 s, turn back (1.5 s) to the viewpoint it left, orbit on for 1.3 s."""
    from arkit.synthetic.generator import generate_sequence
    from arkit.synthetic.recipes import read_recipe_dict, recipe_path

    d = read_recipe_dict(recipe_path("look_away"))
    d["camera"].update(leave_at=0.12, transition=0.2, hold=0.08)
    out = tmp_path_factory.mktemp("look_away") / "seq"
    return generate_sequence(d, out, num_frames=N_FRAMES, width=W, height=H, seed=0)


def _check_relocalised(res, max_rmse_after_m):
    assert res["loss_frame"] is not None, res["states"]              # the bare wall loses the tracker
    assert res["left_frame"] is not None and res["returning_frame"] is not None
    assert res["returning_frame"] > res["left_frame"] >= res["loss_frame"]
    assert res["frames_to_relocalise"] is not None and 0 <= res["frames_to_relocalise"] <= 10, res
    # the world frame is unchanged by the loss: poses after relocalisation agree with the ground
    # truth in the alignment fitted before the loss
    assert res["rmse_after_m"] < max_rmse_after_m, res


def test_rgbd_relocalises_within_10_frames_of_returning(look_away_folder):
    from arkit.tracking.vslam.synthetic_eval import run_turn_away
    from arkit.tracking.vslam.tracker import VisualTrackerConfig

    res = run_turn_away("rgbd", config=VisualTrackerConfig(mode="rgbd", n_features=600), folder=look_away_folder)
    assert res["init_frame"] == 0 and res["rmse_before_m"] < 0.02
    _check_relocalised(res, 0.03)


def test_relocalizer_recovers_a_pose_in_the_same_world(look_away_folder):
    """Direct use: a tracker built on the first frames; a later frame near the start is
    relocalised against that map by the bag-of-words index + PnP, in the map's world frame."""
    from arkit.core.pose import invert
    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

    frames = list(TumRgbdSource(look_away_folder, max_frames=40))
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600))
    for f in frames[:30]:
        tracker.track(f)
    f = frames[38]
    K = f.intrinsics   # an ideal pinhole: the features need no undistortion
    feats = tracker.extractor.extract(f.gray, f.depth_m)
    bf = tracker.config.virtual_baseline_m * K.fx
    T_cw, kp, pid, why = tracker.relocalizer.relocalize(tracker.map, K, feats, tracker.extractor.level_sigma2, bf)
    assert T_cw is not None, why
    assert len(kp) >= tracker.relocalizer.min_inliers and len(np.unique(pid)) == len(pid)
    T_gt = invert(frames[0].T_world_camera_recorded) @ f.T_world_camera_recorded   # world = first camera
    assert np.linalg.norm(invert(T_cw)[:3, 3] - T_gt[:3, 3]) < 0.02
    assert tracker.relocalizer.last_candidates  # the index proposed keyframes
