"""Build `duck.glb`, the sample's small glTF model (a toy duck made of coloured primitives).

glTF is Y-up with metres: the duck stands on y = 0, faces +Z, about 1 unit tall before the
scene file scales it. Run `python samples/board_model/assets/make_duck.py` to rebuild it.
"""

from pathlib import Path

import numpy as np
import trimesh


def part(mesh, color, translate=(0, 0, 0), scale=(1, 1, 1)):
    mesh.apply_scale(scale)
    mesh.apply_translation(translate)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=np.tile(color, (len(mesh.faces), 1)))
    return mesh


def build() -> trimesh.Scene:
    yellow, orange, black, white = [250, 205, 40, 255], [245, 120, 20, 255], [20, 20, 20, 255], [245, 245, 245, 255]
    scene = trimesh.Scene()
    scene.add_geometry(part(trimesh.creation.icosphere(3, 0.5), yellow, (0, 0.4, 0), (1.0, 0.75, 1.25)), "body")
    scene.add_geometry(part(trimesh.creation.icosphere(3, 0.28), yellow, (0, 0.88, 0.38)), "head")
    beak = trimesh.creation.cone(0.11, 0.3, sections=24)
    beak.apply_transform(trimesh.transformations.rotation_matrix(0.0, [1, 0, 0]))
    scene.add_geometry(part(beak, orange, (0, 0.84, 0.62)), "beak")
    for side in (-1, 1):
        scene.add_geometry(part(trimesh.creation.icosphere(2, 0.06), white, (0.14 * side, 0.96, 0.6)), f"eye{side}")
        scene.add_geometry(part(trimesh.creation.icosphere(2, 0.03), black, (0.15 * side, 0.97, 0.65)), f"pupil{side}")
    tail = trimesh.creation.cone(0.2, 0.35, sections=24)
    tail.apply_transform(trimesh.transformations.rotation_matrix(-2.4, [1, 0, 0]))
    scene.add_geometry(part(tail, yellow, (0, 0.55, -0.5)), "tail")
    return scene


if __name__ == "__main__":
    out = Path(__file__).with_name("duck.glb")
    build().export(str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
