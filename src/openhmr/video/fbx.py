"""FBX of a clip's tracks through Blender's own FBX exporter (`bpy`, Blender as a Python module).

The animated .glb (`openhmr.video.gltf`) goes through Blender's glTF importer into a fresh
scene and out through its FBX exporter (`blender_fbx.py`), in a child process: bpy pins its
Python (3.11 for bpy 5.0) and numpy (< 2), loads its own copies of many native libraries and
keeps global state, so it runs apart from openhmr's process, and may run in another
environment. The Python that runs it: the one named (`--blender-python`), else
$OPENHMR_BLENDER_PYTHON, else openhmr's own when bpy is installed in it (the `fbx` extra).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path

BPY_REQUIREMENT = "bpy==5.0.1"
ENVIRONMENT_VARIABLE = "OPENHMR_BLENDER_PYTHON"
FBX_BINARY_HEADER = b"Kaydara FBX Binary  \x00\x1a\x00"
SCRIPT = Path(__file__).with_name("blender_fbx.py")
INSTALL_HINT = (
    f"pip install 'openhmr[fbx]' (Python 3.11; {BPY_REQUIREMENT} pins numpy < 2), or make a "
    f"Python 3.11 environment with `pip install {BPY_REQUIREMENT}` and name its python with "
    f"--blender-python or ${ENVIRONMENT_VARIABLE}"
)


def blender_python(named: str | None = None) -> str:
    """The Python that will run Blender's exporter (module docstring), checked to import bpy.
    Raises `OpenHMRError` naming the extra and how to install it when there is none."""
    source = "--blender-python"
    if named is None and os.environ.get(ENVIRONMENT_VARIABLE):
        named, source = os.environ[ENVIRONMENT_VARIABLE], f"${ENVIRONMENT_VARIABLE}"
    if named is None:
        if importlib.util.find_spec("bpy") is None:
            raise OpenHMRError(
                f"--fbx: needs Blender's Python module bpy (the `fbx` extra), not installed "
                f"for {sys.executable}: {INSTALL_HINT}"
            )
        named = sys.executable
    try:
        check = subprocess.run(
            [named, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=300
        )
    except OSError as err:
        raise OpenHMRError(
            f"--fbx: {source} {named}: expected a Python with bpy, cannot run it "
            f"({err.strerror or err})"
        ) from None
    if check.returncode != 0:
        found = (check.stderr.strip().splitlines() or ["no output"])[-1]
        raise OpenHMRError(
            f"--fbx: {source} {named}: expected a Python with bpy, it says: {found}; {INSTALL_HINT}"
        )
    return named


def write_fbx(
    path: str | os.PathLike, glb: str | os.PathLike, fps: float, last_frame: int, python: str
) -> None:
    """Write `path` (binary FBX: per person an armature of the 24 SMPL joints and its skinned
    mesh, frames 0..last_frame at fps, every frame keyed) from the animated glb through
    Blender's importer and exporter, run by `python` (`blender_python`); atomically."""
    if not (fps > 0 and last_frame >= 0):
        raise OpenHMRError(f"FBX: expected fps > 0 and a last frame ≥ 0, got {fps}, {last_frame}")
    with atomic_path(path) as tmp:
        done = subprocess.run(
            [python, str(SCRIPT), str(glb), str(tmp), repr(float(fps)), str(int(last_frame))],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            found = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise OpenHMRError(f"{path}: Blender's FBX export failed: {found}")
        if Path(tmp).read_bytes()[: len(FBX_BINARY_HEADER)] != FBX_BINARY_HEADER:
            raise OpenHMRError(f"{path}: Blender's FBX export wrote no binary FBX")
