"""Runs inside Blender's Python (tests/test_fbx.py starts it): reads an .fbx into a fresh scene
with Blender's own FBX importer and writes, as JSON, what the test compares.

    python blender_read_fbx.py IN.fbx OUT.json FRAME

OUT.json holds: fps (the scene's rate after the import); per armature object: its bones' names and
parents, rest matrices (armature space), and per frame from 0 to the last key: the object's
world matrix and every posed bone's world matrix (4 x 4, row-major); per mesh object: its
vertex count, vertex groups, parent, the largest vertex-group count per vertex and its
skinned vertices at FRAME (world, as Blender's armature deforms them); and the
FBX file's own time records read with Blender's FBX parser (the frame-rate setting and every
animation curve's key times in FBX ticks), which the importer rounds to whole frames.
"""

from __future__ import annotations

import json
import sys


def matrix(m) -> list[list[float]]:
    return [list(row) for row in m]


def fbx_times(path: str) -> dict:
    """The file's CustomFrameRate and TimeMode, and the key times of every animation curve."""
    from io_scene_fbx import parse_fbx

    root, _version = parse_fbx.parse(path)
    settings = next(e for e in root.elems if e.id == b"GlobalSettings")
    props = next(e for e in settings.elems if e.id == b"Properties70")
    found = {}
    for prop in props.elems:
        name = prop.props[0].decode()
        if name in ("CustomFrameRate", "TimeMode"):
            found[name] = prop.props[-1]
    objects = next(e for e in root.elems if e.id == b"Objects")
    times = []
    for element in objects.elems:
        if element.id == b"AnimationCurve":
            keys = next(e for e in element.elems if e.id == b"KeyTime")
            times.append([int(t) for t in keys.props[0]])
    return {**found, "key_times": times}


def deformed_vertices(mesh_object) -> list[list[float]]:
    import bpy

    evaluated = mesh_object.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()  # with the armature modifier applied
    vertices = [list(evaluated.matrix_world @ v.co) for v in mesh.vertices]
    evaluated.to_mesh_clear()
    return vertices


def main(path: str, frame: int) -> dict:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)
    scene = bpy.context.scene
    last = max(round(a.frame_range[1]) for a in bpy.data.actions)
    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    result = {"fps": scene.render.fps / scene.render.fps_base, "last_frame": last}
    result["armatures"] = {
        o.name: {
            "bones": [b.name for b in o.data.bones],
            "parents": [b.parent.name if b.parent else None for b in o.data.bones],
            "rest": [matrix(b.matrix_local) for b in o.data.bones],
            "object": [],
            "posed": [],
        }
        for o in armatures
    }
    for each in range(last + 1):
        scene.frame_set(each)
        for o in armatures:
            record = result["armatures"][o.name]
            record["object"].append(matrix(o.matrix_world))
            record["posed"].append(
                [matrix(o.matrix_world @ o.pose.bones[b.name].matrix) for b in o.data.bones]
            )
    scene.frame_set(frame)
    result["meshes"] = {
        o.name: {
            "vertices": len(o.data.vertices),
            "groups": [g.name for g in o.vertex_groups],
            "parent": o.parent.name if o.parent else None,
            "max_groups_per_vertex": max(len(v.groups) for v in o.data.vertices),
            "deformed": deformed_vertices(o),
        }
        for o in scene.objects
        if o.type == "MESH"
    }
    result["file"] = fbx_times(path)
    return result


if __name__ == "__main__":
    with open(sys.argv[2], "w") as out:
        json.dump(main(sys.argv[1], int(sys.argv[3])), out)
