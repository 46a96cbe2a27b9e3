"""The TF.js graph-model reader on hand-made files in the real format (weightsManifest groups
of shards, float16 and affine uint8/uint16 quantisation, base64 attributes) and on bad ones."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from openhmr import OpenHMRError
from openhmr.posenet.tfjs import read_graph_model

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "human-models-3.0.4"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_model(folder: Path, shards: int = 2) -> dict[str, np.ndarray]:
    """A model.json + shards holding one weight of each stored kind; returns the values the
    reader must give back (computed here from the format's definition)."""
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    q8 = rng.integers(0, 256, size=(5,), dtype=np.uint8)
    q16 = rng.integers(0, 65536, size=(2, 3), dtype=np.uint16)
    ints = np.array([7, -3, 2**20], dtype=np.int32)
    scale8, min8, scale16, min16 = 0.02, -1.5, 1e-4, 3.0
    data = b"".join(
        [kernel.astype("<f2").tobytes(), q8.tobytes(), q16.astype("<u2").tobytes(),
         ints.astype("<i4").tobytes()]
    )  # fmt: skip
    cut = len(data) // shards
    pieces = [data[i * cut : (i + 1) * cut if i < shards - 1 else None] for i in range(shards)]
    paths = []
    for i, piece in enumerate(pieces):
        name = f"group1-shard{i + 1}of{shards}.bin"
        (folder / name).write_bytes(piece)
        paths.append(name)
    manifest = [
        {
            "paths": paths,
            "weights": [
                {"name": "conv/kernel", "shape": [3, 3, 2, 4], "dtype": "float32",
                 "quantization": {"dtype": "float16", "original_dtype": "float32"}},
                {"name": "q8", "shape": [5], "dtype": "float32",
                 "quantization": {"dtype": "uint8", "scale": scale8, "min": min8}},
                {"name": "q16", "shape": [2, 3], "dtype": "float32",
                 "quantization": {"dtype": "uint16", "scale": scale16, "min": min16}},
                {"name": "ints", "shape": [3], "dtype": "int32"},
            ],
        }
    ]  # fmt: skip
    topology = {
        "node": [
            {"name": "input", "op": "Placeholder",
             "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "-1"}]}}}},
            {"name": "conv", "op": "Conv2D", "input": ["input", "conv/kernel"],
             "attr": {"padding": {"s": _b64("SAME")},
                      "strides": {"list": {"i": ["1", "2", "2", "1"]}},
                      "fused_ops": {"list": {"s": [_b64("BiasAdd"), _b64("Relu6")]}},
                      "epsilon": {"f": 0.001}, "use_cudnn_on_gpu": {"b": True},
                      "T": {"type": "DT_FLOAT"}}},
        ]
    }  # fmt: skip
    document = {"format": "graph-model", "generatedBy": "hand", "convertedBy": "test",
                "modelTopology": topology, "weightsManifest": manifest}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(document))
    return {
        "conv/kernel": kernel.astype(np.float16).astype(np.float32),
        "q8": q8.astype(np.float32) * np.float32(scale8) + np.float32(min8),
        "q16": q16.astype(np.float32) * np.float32(scale16) + np.float32(min16),
        "ints": ints,
    }


@pytest.mark.parametrize("shards", [1, 3])
def test_reads_weights_and_nodes(tmp_path, shards):
    expected = write_model(tmp_path, shards)
    model = read_graph_model(tmp_path / "model.json")
    assert set(model.weights) == set(expected)
    for name, value in expected.items():
        assert model.weights[name].dtype == value.dtype, name
        np.testing.assert_allclose(model.weights[name], value, rtol=1e-6, err_msg=name)
    conv = model.nodes["conv"]
    assert conv.op == "Conv2D" and conv.inputs == ("input", "conv/kernel")
    assert conv.attrs["padding"] == "SAME" and conv.attrs["strides"] == [1, 2, 2, 1]
    assert conv.attrs["fused_ops"] == ["BiasAdd", "Relu6"]
    assert conv.attrs["epsilon"] == pytest.approx(0.001) and conv.attrs["use_cudnn_on_gpu"] is True
    assert model.nodes["input"].attrs["shape"] == [1, -1]
    assert model.metadata["generatedBy"] == "hand"


def test_bad_files_get_one_clear_error(tmp_path):
    write_model(tmp_path, shards=2)
    path = tmp_path / "model.json"
    shard = tmp_path / "group1-shard2of2.bin"
    data = shard.read_bytes()

    shard.write_bytes(data[:-3])
    with pytest.raises(OpenHMRError, match="truncated"):
        read_graph_model(path)
    shard.write_bytes(data + b"\x00" * 8)
    with pytest.raises(OpenHMRError, match="do not belong together"):
        read_graph_model(path)
    shard.unlink()
    with pytest.raises(OpenHMRError, match=r"group1-shard2of2\.bin: weight shard .* is missing"):
        read_graph_model(path)
    shard.write_bytes(data)

    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(OpenHMRError, match="invalid JSON"):
        read_graph_model(path)
    path.write_text(json.dumps({"modelTopology": {}, "weightsManifest": []}))
    with pytest.raises(OpenHMRError, match="no 'node' list"):
        read_graph_model(path)
    path.write_text(json.dumps({"format": "layers-model"}))
    with pytest.raises(OpenHMRError, match=r"not a TF\.js graph model"):
        read_graph_model(path)
    document = json.loads(text)
    document["weightsManifest"][0]["weights"][3]["dtype"] = "complex64"
    path.write_text(json.dumps(document))
    with pytest.raises(OpenHMRError, match="unsupported dtype 'complex64'"):
        read_graph_model(path)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(OpenHMRError, match=r"not a TF\.js model\.json"):
        read_graph_model(path)
    with pytest.raises(OpenHMRError, match="not found"):
        read_graph_model(tmp_path / "absent.json")


def test_conversion_writes_nothing_on_a_bad_graph(tmp_path):
    from openhmr.posenet.convert import convert_graph

    write_model(tmp_path)
    out = tmp_path / "out.safetensors"
    with pytest.raises(OpenHMRError, match="no graph weight for"):
        convert_graph(tmp_path / "model.json", "lightning", out)
    assert not out.exists() and not list(tmp_path.glob(".out.safetensors*"))


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="needs ../shared/models")
def test_reads_the_published_movenet_file():
    model = read_graph_model(SHARED_MODELS / "movenet-thunder.json")
    assert len(model.nodes) == 331 and len(model.weights) == 180
    assert model.metadata["generatedBy"].endswith("movenet/singlepose/thunder/4")
    stem = model.weights[
        "StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/model/"
        "Conv1/Conv2D_weights"
    ]
    assert stem.shape == (3, 3, 3, 56) and stem.dtype == np.float32
