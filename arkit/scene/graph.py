"""The scene graph: nodes with local transforms and mesh content, bound to anchors.

>>> from arkit.scene.graph import Scene, SceneNode
>>> scene = Scene()
>>> node = scene.add(SceneNode("empty"), on="marker:3")
>>> [n.name for n in scene.roots()]
['empty']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from arkit.core.pose import as_transform
from arkit.render.types import DrawItem, MeshData
from arkit.scene.anchors import AnchorBinding


@dataclass(eq=False)
class SceneNode:
    """A node: a local transform, optional meshes, child nodes.

    Parameters
    ----------
    name : str
    T_parent_node : (4, 4)
        Pose of this node in its parent's frame (the anchor's frame for a root node).
    meshes : list of MeshData
        Drawn in the node's frame.
    children : list of SceneNode
    visible : bool
    opacity : float
    """

    name: str
    T_parent_node: np.ndarray = field(default_factory=lambda: np.eye(4))
    meshes: list = field(default_factory=list)
    children: list = field(default_factory=list)
    visible: bool = True
    opacity: float = 1.0

    def __post_init__(self):
        self.T_parent_node = as_transform(self.T_parent_node, f"node '{self.name}' transform")

    def add_child(self, child: "SceneNode") -> "SceneNode":
        self.children.append(child)
        return child

    def walk(self, T_world_parent: np.ndarray):
        """Yield ``(node, T_world_node)`` for this visible node and its visible descendants."""
        if not self.visible:
            return
        T = T_world_parent @ self.T_parent_node
        yield self, T
        for c in self.children:
            yield from c.walk(T)


def _as_binding(on) -> AnchorBinding:
    if on is None:
        return AnchorBinding.world()
    if isinstance(on, AnchorBinding):
        return on
    if isinstance(on, str):
        if on.startswith("kind:"):
            return AnchorBinding(kind=on[5:])
        if on == "world":
            return AnchorBinding.world()
        return AnchorBinding(trackable_id=on)
    return AnchorBinding.world(as_transform(on, "world anchor"))


class Scene:
    """Content bound to anchors. The Python twin of a scene file.

    Content is added with :meth:`add`; each frame :meth:`resolve` turns the current trackables
    into anchors and the draw list for the renderer.
    """

    def __init__(self, name: str = "scene"):
        self.name = name
        self._bound: list = []  # (AnchorBinding, SceneNode)

    def add(self, content: Union[SceneNode, MeshData, Sequence[MeshData]], on=None, *,
            name: Optional[str] = None, T_anchor_content=None) -> SceneNode:
        """Bind content to an anchor.

        Parameters
        ----------
        content : SceneNode or MeshData or list of MeshData
        on : None, str, AnchorBinding or (4, 4)
            ``None``/``"world"``: the world origin; ``"marker:3"``: follow that trackable;
            ``"kind:face"``: one copy per trackable of that kind; a (4, 4) array: a world pose.
        name : str, optional
            Node name (defaults to ``node<N>``).
        T_anchor_content : (4, 4), optional
            Pose of the content in the anchor frame (only when ``content`` is not a node).
        """
        binding = _as_binding(on)
        if isinstance(content, SceneNode):
            node = content
            if T_anchor_content is not None:
                node.T_parent_node = as_transform(T_anchor_content)
        else:
            meshes = [content] if isinstance(content, MeshData) else list(content)
            node = SceneNode(name or f"node{len(self._bound)}",
                             np.eye(4) if T_anchor_content is None else T_anchor_content, meshes)
        if name:
            node.name = name
        names = {n.name for _, n in self._bound}
        if node.name in names:
            raise ValueError(f"scene '{self.name}' already has content named '{node.name}'")
        self._bound.append((binding, node))
        return node

    def roots(self) -> list:
        return [n for _, n in self._bound]

    def bindings(self) -> list:
        return list(self._bound)

    def node(self, name: str) -> SceneNode:
        for _, n in self._bound:
            if n.name == name:
                return n
        raise KeyError(f"no content named '{name}' in scene '{self.name}'")

    def resolve(self, trackables: Iterable) -> tuple:
        """Anchors and draw items for one frame.

        Returns
        -------
        anchors : tuple of Anchor
        items : list of DrawItem
        """
        trackables = tuple(trackables)
        anchors, items = [], []
        for binding, root in self._bound:
            for anchor in binding.resolve(trackables, root.name):
                anchors.append(anchor)
                for node, T_world_node in root.walk(anchor.T_world_anchor):
                    for mesh in node.meshes:
                        items.append(DrawItem(mesh, T_world_node, node.opacity))
        return tuple(anchors), items
