"""Animated binary glTF (.glb) of a clip's tracks: per person a skinned body mesh (rest shape
of the track's β, four strongest skinning weights per vertex), its 24-joint SMPL skeleton and
per-frame joint rotations and root translation; every person in one file, one animation, each
in a matte colour of their own (the photo page's palette, in track order).

Each person's root joint turns camera axes (x right, y down, z forward) into glTF's y-up
(π about x) before its own rotation, so every other joint's rotation is the track's own; its
parent node, the skeleton's root, shows the person (scale 1) only between the track's first
and last frame (a STEP scale channel).  The turn sits in the root joint, not in that parent
node: the Babylon.js viewer of the web page frames an animated skin by its joints and placed
the person's bounds on both sides of the camera when the parent held it.  The bind pose (the
vertices, inverse bind matrices and the joints' unanimated transforms) is the rest body
standing where the track starts, so viewers that cull a skinned mesh by its bind pose find the
person.  Pose correctives are not in the mesh (glTF skinning is linear blend only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from openhmr.body import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.inference.export import vertex_normals, write_glb_container
from openhmr.inference.visualize import person_color
from openhmr.video.smooth import TrackSeries

FLOAT, UINT16, UINT32 = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
Y_UP = np.array([1.0, -1.0, -1.0])  # π about x: camera axes (y down, z forward) -> y up
TURN_Y_UP = [1.0, 0.0, 0.0, 0.0]  # the same turn, a quaternion x, y, z, w


class _Builder:
    def __init__(self) -> None:
        self.gltf: dict = {
            "asset": {"version": "2.0", "generator": "openhmr video"},
            "scene": 0,
            "scenes": [{"nodes": []}],
            "nodes": [],
            "meshes": [],
            "skins": [],
            "buffers": [],
            "bufferViews": [],
            "accessors": [],
            "animations": [{"name": "motion", "samplers": [], "channels": []}],
            "materials": [],
        }
        self.chunks: list[bytes] = []
        self.size = 0

    def accessor(
        self, values: np.ndarray, kind: str, component: int, target: int | None = None,
        bounds: bool = False,
    ) -> int:  # fmt: skip
        data = np.ascontiguousarray(values).tobytes()
        view = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        data += b"\0" * (-len(data) % 4)
        self.chunks.append(data)
        self.size += len(data)
        self.gltf["bufferViews"].append(view)
        count = len(values) if kind != "SCALAR" or values.ndim == 1 else values.size
        accessor = {
            "bufferView": len(self.gltf["bufferViews"]) - 1,
            "componentType": component,
            "count": int(count),
            "type": kind,
        }
        if bounds:
            flat = values.reshape(int(count), -1)
            accessor["min"] = flat.min(0).tolist()
            accessor["max"] = flat.max(0).tolist()
        self.gltf["accessors"].append(accessor)
        return len(self.gltf["accessors"]) - 1

    def node(self, **fields) -> int:
        self.gltf["nodes"].append(fields)
        return len(self.gltf["nodes"]) - 1

    def channel(self, node: int, path: str, times: int, values: int, interpolation: str) -> None:
        animation = self.gltf["animations"][0]
        animation["samplers"].append(
            {"input": times, "output": values, "interpolation": interpolation}
        )
        sampler = len(animation["samplers"]) - 1
        animation["channels"].append({"sampler": sampler, "target": {"node": node, "path": path}})

    def write(self, path: str | os.PathLike) -> None:
        write_glb_container(path, self.gltf, self.chunks)


def top_weights(weights: np.ndarray, count: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The `count` largest skinning weights per vertex, renormalised: weights (V, J) ->
    joints (V, count) uint16 (0 where the weight is 0), weights (V, count) float32 summing to 1."""
    joints = np.argsort(-weights, axis=1)[:, :count]
    top = np.take_along_axis(weights, joints, axis=1).clip(min=0.0)
    top = top / top.sum(1, keepdims=True)
    joints[top == 0] = 0  # the validator wants unused slots at joint 0
    return joints.astype(np.uint16), top.astype(np.float32)


def write_animated_glb(
    path: str | os.PathLike,
    body: BodyModel,
    tracks: Sequence[TrackSeries],
    fps: float,
) -> None:
    """One .glb with every track animated (see the module docstring). tracks: smoothed
    series (pose (T, 24, 3) camera axes, betas (T, 10), transl (T, 3)); fps > 0."""
    if not tracks:
        raise OpenHMRError("animated glTF: expected at least one track, got none")
    if not (np.isfinite(fps) and fps > 0):
        raise OpenHMRError(f"animated glTF: expected a frame rate > 0, got {fps}")
    g = _Builder()
    faces = body.faces.cpu().numpy().astype(np.uint32)
    joints_w, weights_w = top_weights(body.skinning_weights.T.double().cpu().numpy())
    parents = np.asarray(body.parents)
    end = max(int(t.frames[-1]) for t in tracks) + 1
    for index, track in enumerate(tracks):
        g.gltf["materials"].append(
            {"name": f"person{track.id}", "pbrMetallicRoughness": {
                "baseColorFactor": [*(float(c) for c in person_color(index)), 1.0],
                "metallicFactor": 0.0, "roughnessFactor": 0.8,
            }}
        )  # fmt: skip
        betas = torch.as_tensor(track.betas[:1], dtype=torch.float32)
        with torch.no_grad():
            rest = body(betas=betas)
        vertices = rest.vertices[0].double().numpy()
        joints = rest.joints[0].double().numpy()
        bind_at = track.transl[0]  # the bind pose stands here (module docstring)
        bind = (vertices + bind_at) * Y_UP
        attributes = {
            "POSITION": g.accessor(bind.astype("<f4"), "VEC3", FLOAT, ARRAY_BUFFER, True),
            "NORMAL": g.accessor(
                vertex_normals(bind, faces).astype("<f4"), "VEC3", FLOAT, ARRAY_BUFFER
            ),
            "JOINTS_0": g.accessor(joints_w, "VEC4", UINT16, ARRAY_BUFFER),
            "WEIGHTS_0": g.accessor(weights_w, "VEC4", FLOAT, ARRAY_BUFFER),
        }
        indices = g.accessor(faces.reshape(-1), "SCALAR", UINT32, ELEMENT_ARRAY_BUFFER)
        g.gltf["meshes"].append(
            {"name": f"person{track.id}", "primitives": [
                {"attributes": attributes, "indices": indices, "mode": 4, "material": index}
            ]}
        )  # fmt: skip
        first = len(g.gltf["nodes"])
        joint_nodes = []
        for j in range(len(parents)):
            name = f"person{track.id}_joint{j}"
            if parents[j] >= 0:
                offset = joints[j] - joints[parents[j]]
                joint_nodes.append(g.node(name=name, translation=offset.tolist()))
            else:  # the root: turned to y up, where the track starts
                place = ((joints[j] + bind_at) * Y_UP).tolist()
                joint_nodes.append(g.node(name=name, translation=place, rotation=TURN_Y_UP))
        for j in range(len(parents)):
            children = [first + c for c in range(len(parents)) if parents[c] == j]
            if children:
                g.gltf["nodes"][first + j]["children"] = children
        root = g.node(name=f"person{track.id}", children=[first])
        # the inverse of each joint's bind pose [turn | turn (joints + bind_at)]
        inverse_bind = np.tile(np.eye(4), (len(parents), 1, 1))
        inverse_bind[:, :3, :3] = np.diag(Y_UP)
        inverse_bind[:, :3, 3] = -(joints + bind_at)
        ibm = g.accessor(
            inverse_bind.transpose(0, 2, 1).astype("<f4").reshape(-1, 16), "MAT4", FLOAT
        )  # column-major
        g.gltf["skins"].append(
            {"joints": joint_nodes, "inverseBindMatrices": ibm, "skeleton": root}
        )
        mesh_node = g.node(
            name=f"person{track.id}_body", mesh=len(g.gltf["meshes"]) - 1,
            skin=len(g.gltf["skins"]) - 1,
        )  # fmt: skip
        g.gltf["scenes"][0]["nodes"] += [root, mesh_node]
        # animation: rotations of every joint, the root's translation, visibility by scale
        times = g.accessor((track.frames / fps).astype("<f4"), "SCALAR", FLOAT, bounds=True)
        rotations = Rotation.from_rotvec(track.pose.reshape(-1, 3))
        quats = rotations.as_quat().reshape(len(track.frames), -1, 4)  # x, y, z, w
        quats[:, 0] = (Rotation.from_quat(TURN_Y_UP) * Rotation.from_quat(quats[:, 0])).as_quat()
        flip = np.cumsum(
            np.r_[np.zeros((1, quats.shape[1])), (quats[1:] * quats[:-1]).sum(-1) < 0], 0
        )
        quats = quats * np.where(flip % 2 == 1, -1.0, 1.0)[..., None]  # no hemisphere jumps
        for j in range(len(parents)):
            values = g.accessor(quats[:, j].astype("<f4"), "VEC4", FLOAT)
            g.channel(joint_nodes[j], "rotation", times, values, "LINEAR")
        root_position = (track.transl + joints[0]) * Y_UP
        values = g.accessor(root_position.astype("<f4"), "VEC3", FLOAT)
        g.channel(joint_nodes[0], "translation", times, values, "LINEAR")
        start, stop = int(track.frames[0]), int(track.frames[-1]) + 1
        keys = ([0.0] if start > 0 else []) + [start / fps] + ([stop / fps] if stop < end else [])
        scales = ([0.0] if start > 0 else []) + [1.0] + ([0.0] if stop < end else [])
        key_times = g.accessor(np.array(keys, "<f4"), "SCALAR", FLOAT, bounds=True)
        scale_values = g.accessor(np.repeat(np.array(scales, "<f4")[:, None], 3, 1), "VEC3", FLOAT)
        g.channel(root, "scale", key_times, scale_values, "STEP")
    g.write(path)
