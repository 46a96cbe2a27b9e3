"""Runs inside Blender's Python, not openhmr's: an animated .glb into a fresh Blender scene
through Blender's glTF importer, out as binary FBX through Blender's FBX exporter.

    python blender_fbx.py --check                        # prints bpy's version
    python blender_fbx.py IN.glb OUT.fbx FPS LAST_FRAME  # frames 0..LAST_FRAME at FPS

It imports only `bpy` and the standard library, so any Python where `import bpy` works runs
it: openhmr's own (the `fbx` extra) or a separate environment, since the bpy wheel pins its
Python (3.11 for bpy 5.0) and numpy (< 2). `openhmr.video.fbx` runs it in a child process.
"""

from __future__ import annotations

import sys


def glb_to_fbx(glb: str, fbx: str, fps: float, last_frame: int) -> None:
    """Read glb (times in seconds) so that frame f of the clip is Blender frame f at fps, and
    write fbx: armatures and skinned meshes, Y-up, every frame keyed (no key reduction), no
    leaf bones (the 24 SMPL joints only)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    whole = max(1, round(fps))
    # this importer turns seconds into frames as seconds * fps * fps_base (Blender 5.0), the
    # rest of Blender reads the rate as fps / fps_base: one base for the import, one after
    scene.render.fps, scene.render.fps_base = whole, fps / whole
    bpy.ops.import_scene.gltf(filepath=glb, disable_bone_shape=True, loglevel=50)
    scene.render.fps_base = whole / fps
    ends = [action.frame_range[1] for action in bpy.data.actions]
    if not ends or abs(max(ends) - last_frame) > 1e-3 + 1e-6 * last_frame:  # float32 times
        raise SystemExit(f"{glb}: expected keys up to frame {last_frame}, the import has {ends}")
    # The exporter binds each skin at the current frame, and a person not yet or no longer
    # in view is scaled to 0 there (singular). Frame -1, outside the exported range, shows
    # everyone at scale 1 (a constant key; frame 0 keeps its own), and the export runs there.
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "CONSTANT"
    for armature in (o for o in scene.objects if o.type == "ARMATURE"):
        armature.scale = (1.0, 1.0, 1.0)
        armature.keyframe_insert("scale", frame=-1)
    scene.frame_start, scene.frame_end = 0, last_frame
    scene.frame_set(-1)
    bpy.ops.export_scene.fbx(
        filepath=fbx,
        object_types={"ARMATURE", "MESH"},
        add_leaf_bones=False,
        bake_anim_use_nla_strips=False,
        bake_anim_use_all_actions=False,
        bake_anim_simplify_factor=0.0,
    )


def main(argv: list[str]) -> None:
    if argv == ["--check"]:
        import bpy

        print(bpy.app.version_string)
        return
    if len(argv) != 4:
        raise SystemExit(__doc__)
    glb, fbx, fps, last_frame = argv
    glb_to_fbx(glb, fbx, float(fps), int(last_frame))


if __name__ == "__main__":
    main(sys.argv[1:])
