import numpy as np

from arkit.core.pose import from_rt
from arkit.core.trackables import MarkerTrackable, PlaneTrackable, TrackableState
from arkit.scene.anchors import AnchorBinding
from arkit.scene.graph import Scene, SceneNode


def plane(pid, label, extent, t, state=TrackableState.TRACKING, subsumed_by=None):
    return PlaneTrackable(pid, "plane", from_rt(t=t), state, label=label, extent_xz=extent, subsumed_by=subsumed_by)


def test_label_anchor_follows_largest_matching_plane():
    b = AnchorBinding(kind="plane", label="floor")
    ps = [plane("plane:1", "floor", (1, 1), [0, 0, 0]), plane("plane:2", "floor", (3, 2), [1, 0, 0]),
          plane("plane:3", "wall", (5, 5), [0, 1, 0]), plane("plane:4", "floor", (9, 9), [5, 0, 0], subsumed_by="plane:2")]
    a = b.resolve(ps, "x")
    assert len(a) == 1 and a[0].trackable_id == "plane:2"
    np.testing.assert_allclose(a[0].T_world_anchor[:3, 3], [1, 0, 0])
    assert AnchorBinding(kind="plane", label="table").resolve(ps, "x") == []


def test_kind_anchor_one_copy_each_and_paused_states():
    ms = [MarkerTrackable("marker:1", "marker", from_rt(t=[1, 0, 0])),
          MarkerTrackable("marker:2", "marker", from_rt(t=[2, 0, 0]), TrackableState.PAUSED),
          MarkerTrackable("marker:3", "marker", from_rt(t=[3, 0, 0]), TrackableState.STOPPED)]
    assert [a.trackable_id for a in AnchorBinding(kind="marker").resolve(ms, "c")] == ["marker:1", "marker:2"]
    hidden = AnchorBinding(kind="marker", show_when_paused=False).resolve(ms, "c")
    assert [a.trackable_id for a in hidden] == ["marker:1"]
    offset = AnchorBinding(trackable_id="marker:1", T_trackable_anchor=from_rt(t=[0, 0.5, 0])).resolve(ms, "c")
    np.testing.assert_allclose(offset[0].T_world_anchor[:3, 3], [1, 0.5, 0])


def test_scene_graph_composes_child_transforms():
    from arkit.scene import overlays

    scene = Scene()
    root = SceneNode("root", from_rt(t=[0, 1, 0]), [overlays.box([0.1, 0.1, 0.1])])
    root.add_child(SceneNode("child", from_rt(t=[0, 0, 2]), [overlays.sphere(0.05)]))
    hidden = root.add_child(SceneNode("hidden", np.eye(4), [overlays.sphere(0.05)], visible=False))
    scene.add(root, on=from_rt(t=[5, 0, 0]))
    anchors, items = scene.resolve([])
    assert [a.id for a in anchors] == ["anchor:root"]
    np.testing.assert_allclose(sorted(tuple(i.T_world_object[:3, 3]) for i in items), [(5, 1, 0), (5, 1, 2)])
    assert hidden.visible is False
