"""Soft contact shadows: a dark, radially fading quad just above the surface content stands on.

>>> from arkit.scene.shadows import contact_shadow_mesh
>>> m = contact_shadow_mesh(0.1)
>>> m.texture.shape, int(m.texture[32, 32, 3]) > int(m.texture[32, 60, 3]), int(m.texture[0, 0, 3])
((64, 64, 4), True, 0)
"""

from __future__ import annotations

from typing import Iterable, Optional, Tuple

import numpy as np

from arkit.render.types import MeshData

#: Height of the shadow above the anchor surface (metres), against z-fighting with the surface.
SHADOW_LIFT_M = 0.001


def radial_gradient_rgba(size_px: int = 64, opacity: float = 0.6) -> np.ndarray:
    """A black RGBA texture whose alpha is ``opacity`` within 30 % of the radius and falls
    smoothly (smoothstep) to 0 at the inscribed circle.

    Returns
    -------
    (size_px, size_px, 4) uint8
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"shadow opacity must be in [0, 1], got {opacity}")
    c = (np.arange(size_px, dtype=np.float64) + 0.5) / size_px * 2.0 - 1.0
    r2 = c[None, :] ** 2 + c[:, None] ** 2
    t = np.clip((np.sqrt(r2) - 0.3) / 0.7, 0.0, 1.0)
    alpha = (1.0 - t * t * (3.0 - 2.0 * t)) * opacity
    tex = np.zeros((size_px, size_px, 4), np.uint8)
    tex[..., 3] = np.round(alpha * 255.0).astype(np.uint8)
    return tex


def contact_shadow_mesh(radius_m: float, opacity: float = 0.6, *, size_px: int = 64) -> MeshData:
    """The shadow quad: ``2 * radius_m`` square in the local X-Z plane (+Y up), centred on the
    origin, textured with :func:`radial_gradient_rgba`, unlit."""
    from arkit.render.meshes import quad_mesh

    if not radius_m > 0:
        raise ValueError(f"shadow radius must be positive (metres), got {radius_m}")
    d = 2.0 * float(radius_m)
    return quad_mesh(d, d, texture=radial_gradient_rgba(size_px, opacity), unlit=True)


def footprint_xz(meshes_with_poses: Iterable[Tuple[MeshData, np.ndarray]]) -> Optional[tuple]:
    """Bounds in the X-Z plane of meshes placed by ``T_anchor_mesh`` poses.

    Returns
    -------
    (centre_xz (2,), size_xz (2,)) or None when there are no vertices.
    """
    pts = []
    for mesh, T in meshes_with_poses:
        v = np.asarray(mesh.vertices, np.float64)
        if len(v):
            pts.append(v @ T[:3, :3].T + T[:3, 3])
    if not pts:
        return None
    p = np.concatenate(pts)[:, [0, 2]]
    lo, hi = p.min(axis=0), p.max(axis=0)
    return (lo + hi) / 2.0, hi - lo


def add_contact_shadow(node, radius_m: Optional[float] = None, opacity: float = 0.6, *,
                       margin: float = 2.0):
    """Give a root content node a contact shadow lying on its anchor's surface.

    The shadow is a child of ``node`` posed at ``y = SHADOW_LIFT_M`` in the *anchor* frame (so it
    stays flat on the surface whatever the node's own offset and rotation), centred under the
    content's X-Z footprint.

    Parameters
    ----------
    node : SceneNode
        A root node (its ``T_parent_node`` is the pose in the anchor frame).
    radius_m : float, optional
        Default: ``margin`` times half the larger side of the footprint.
    opacity : float
        Alpha at the centre, in [0, 1].

    Returns
    -------
    SceneNode
        The shadow node (named ``<node>.shadow``).
    """
    from arkit.core.pose import invert
    from arkit.scene.graph import SceneNode

    fp = footprint_xz((m, T) for n, T in node.walk(np.eye(4)) for m in n.meshes)
    centre = np.zeros(2) if fp is None else fp[0]
    if radius_m is None:
        if fp is None:
            raise ValueError(f"content '{node.name}' has no mesh to size a shadow from; give shadow.radius_m")
        radius_m = margin * 0.5 * float(max(fp[1].max(), 1e-3))
    T_anchor_shadow = np.eye(4)
    T_anchor_shadow[:3, 3] = [centre[0], SHADOW_LIFT_M, centre[1]]
    shadow = SceneNode(f"{node.name}.shadow", invert(node.T_parent_node) @ T_anchor_shadow,
                       [contact_shadow_mesh(radius_m, opacity)])
    node.children.insert(0, shadow)
    return shadow
