"""BlazePose GHUM in PyTorch against TF.js itself (fixtures written by
tools/blazepose_tfjs_reference.py from the published graphs: `cd tools/tfjs && npm ci && cd
../.. && .venv/bin/python tools/blazepose_tfjs_reference.py`), the bundled weights against
the published bytes, and the errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from openhmr import OpenHMRError
from openhmr.posenet.blazepose import ASSETS, BlazePose
from openhmr.posenet.blazepose_convert import convert_graph

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED_MODELS = ROOT.parent / "shared" / "models" / "human-models-3.0.4"
VARIANTS = ("heavy", "full")
INPUTS = 4  # photo, two renders, blank
# Relative error = max |ours - TF.js| / max |TF.js| per output and input.
RELATIVE = {"heatmaps": 1e-4, "ld_3d": 1e-4, "world_3d": 1e-4, "pose_flag": 1e-4}
# The segmentation branch amplifies float32 rounding: on the photo (full) our float32 map is
# 3.3e-4 from our own float64 one at its worst pixel, TF.js's float32 one 2.2e-4 (see
# docs/posenet.md); so its bound is 1e-3 at any pixel, and the mean stays at float32 level.
SEGMENTATION_MAX, SEGMENTATION_MEAN = 1e-3, 1e-5


def needs_shared():
    return pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="../shared/models absent")


@pytest.fixture(scope="module", params=VARIANTS)
def reference(request):
    torch.set_num_threads(2)
    net = BlazePose.pretrained(request.param)
    with np.load(DATA / f"tfjs_blazepose_{request.param}.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    images = np.concatenate([data[f"input_{i}"] for i in range(INPUTS)])
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255)).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = net(x)
    ours = {
        "heatmaps": out.heatmaps.permute(0, 2, 3, 1)[:, ::4, ::4].numpy(),
        "segmentation": out.segmentation[:, ::2, ::2, None].numpy(),
        "ld_3d": out.ld_3d.reshape(INPUTS, -1).numpy(),
        "world_3d": out.world_3d.reshape(INPUTS, -1).numpy(),
        "pose_flag": out.pose_flag[:, None].numpy(),
    }
    return request.param, data, ours


def test_outputs_match_tfjs(reference):
    variant, data, ours = reference
    for i in range(INPUTS):
        for key, bound in RELATIVE.items():
            expected, got = data[f"{key}_{i}"][0], ours[key][i]
            assert got.shape == expected.shape, key
            error = np.abs(got - expected).max() / np.abs(expected).max()
            assert error <= bound, f"{variant} input {i} {key}: relative error {error:.2g}"
        expected, got = data[f"segmentation_{i}"][0], ours["segmentation"][i]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= SEGMENTATION_MAX, (variant, i)
        assert np.abs(got - expected).mean() <= SEGMENTATION_MEAN, (variant, i)


def test_fixtures_show_people_and_blank(reference):
    """The references are what they claim: a person (flag ~1, a mask of reasonable area) in
    the photo and renders, none in the blank crop."""
    variant, data, _ = reference
    for i in range(3):
        assert data[f"pose_flag_{i}"].item() > 0.9, (variant, i)
        assert 0.05 < (data[f"segmentation_{i}"] > 0.5).mean() < 0.6, (variant, i)
    assert data["pose_flag_3"].item() < 0.01
    meta = json.loads(str(data["meta"]))
    assert meta["tfjs_version"] == "4.22.0" and meta["backend"] == "cpu"


def test_blank_crop_gives_low_flag_and_finite_outputs():
    net = BlazePose.pretrained("full")
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 256, 256))
    assert (out.pose_flag < 0.01).all()
    for value in (out.ld_3d, out.world_3d, out.segmentation, out.heatmaps, out.pose_flag):
        assert torch.isfinite(value).all()


def fixture_crop(variant: str, index: int) -> torch.Tensor:
    """Input `index` of the TF.js fixture of `variant`: (1, 3, 256, 256) RGB in [0, 1]."""
    with np.load(DATA / f"tfjs_blazepose_{variant}.npz") as npz:
        image = npz[f"input_{index}"]
    return torch.from_numpy(image.astype(np.float32) / 255).permute(0, 3, 1, 2)


def test_float16_close_to_float32():
    x = fixture_crop("full", 1)
    net = BlazePose.pretrained("full")
    with torch.no_grad():
        full = net(x)
        half = net.half()(x.half())
    assert half.ld_3d.dtype == torch.float16
    # 2D landmarks within 2 px of 256, world landmarks within 2 cm
    assert (half.ld_3d[..., :2].float() - full.ld_3d[..., :2]).abs().max() < 2.0
    assert (half.world_3d.float() - full.world_3d).abs().max() < 0.02
    assert (half.pose_flag.float() - full.pose_flag).abs().max() < 0.01


def _published_float16(model_json: Path) -> list[bytes]:
    """Every float weight of a TF.js graph, as its stored float16 bytes (TF layout), read
    straight from the manifest and the shard."""
    document = json.loads(model_json.read_text())
    blob = b"".join((model_json.parent / p).read_bytes() for g in document["weightsManifest"]
                    for p in g["paths"])  # fmt: skip
    out, offset = [], 0
    for group in document["weightsManifest"]:
        for spec in group["weights"]:
            stored = spec.get("quantization", {}).get("dtype", spec["dtype"])
            size = int(np.prod(spec["shape"])) * (2 if stored == "float16" else 4)
            if stored == "float16":
                array = np.frombuffer(blob, np.float16, size // 2, offset).reshape(spec["shape"])
                out.append(array.tobytes())
            offset += size
    return out


@needs_shared()
@pytest.mark.parametrize("variant", VARIANTS)
def test_bundled_weights_are_the_published_float16(variant):
    published = _published_float16(SHARED_MODELS / f"blazepose-{variant}.json")
    bundled = []
    for value in load_file(str(ASSETS / f"blazepose_{variant}.safetensors")).values():
        assert value.dtype == np.float16
        if value.ndim == 4 and value.shape[1] == 1 and value.shape[0] > 1:
            value = value.transpose(2, 3, 0, 1)  # depthwise C x 1 x kh x kw -> kh x kw x C x 1
        elif value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # out x in x kh x kw -> kh x kw x in x out
        bundled.append(np.ascontiguousarray(value).tobytes())
    assert sorted(bundled) == sorted(published)


def test_pretrained_errors(tmp_path):
    with pytest.raises(OpenHMRError, match="expected one of"):
        BlazePose("lite")
    with pytest.raises(OpenHMRError, match="not found"):
        BlazePose.pretrained("full", tmp_path / "missing.safetensors")
    with pytest.raises(OpenHMRError, match="weights do not fit BlazePose heavy"):
        BlazePose.pretrained("heavy", ASSETS / "blazepose_full.safetensors")
    with pytest.raises(OpenHMRError, match=r"expected crops \(B, 3, 256, 256\)"):
        BlazePose("full")(torch.zeros(1, 3, 192, 192))


@needs_shared()
def test_malformed_graphs_raise_one_error_naming_the_file(tmp_path):
    source = SHARED_MODELS / "blazepose-full.json"
    # a truncated weight shard
    bad = tmp_path / "truncated" / source.name
    bad.parent.mkdir()
    shutil.copy(source, bad)
    bad.with_suffix(".bin").write_bytes(source.with_suffix(".bin").read_bytes()[:-100])
    with pytest.raises(OpenHMRError, match="truncated") as err:
        convert_graph(bad, "full", tmp_path / "out.safetensors")
    assert str(bad) in str(err.value)
    # a graph whose residual add is cut out (the add reads its input twice)
    document = json.loads(source.read_text())
    for node in document["modelTopology"]["node"]:
        if node["name"].endswith("model/add_1/add"):
            node["input"] = [node["input"][0], node["input"][0]]
    rewired = tmp_path / "rewired" / source.name
    rewired.parent.mkdir()
    rewired.write_text(json.dumps(document))
    shutil.copy(source.with_suffix(".bin"), rewired.with_suffix(".bin"))
    with pytest.raises(OpenHMRError, match="not the BlazePose full graph") as err:
        convert_graph(rewired, "full", tmp_path / "out.safetensors")
    assert str(rewired) in str(err.value)
    # the other variant's graph
    with pytest.raises(OpenHMRError, match="not the BlazePose heavy graph"):
        convert_graph(source, "heavy", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("variant", VARIANTS)
def test_landmarks_only_skip_the_dense_heads_and_match_every_output(variant):
    """dense=False gives the landmarks and flag of the full pass exactly, and no heatmaps or
    mask; channels-first gives them within float32 rounding (the layout changes the order
    of the sums only)."""
    net = BlazePose.pretrained(variant)
    with np.load(DATA / f"tfjs_blazepose_{variant}.npz") as npz:
        image = npz["input_0"]
    x = torch.from_numpy(image.astype(np.float32) / np.float32(255)).permute(0, 3, 1, 2)
    with torch.no_grad():
        full, light = net(x), net(x, dense=False)
        net.channels_last = False
        first = net(x, dense=False)
    assert light.heatmaps is None and light.segmentation is None
    for key in ("ld_3d", "world_3d", "pose_flag"):
        torch.testing.assert_close(getattr(light, key), getattr(full, key), rtol=0, atol=0)
        reference = getattr(first, key)
        assert (getattr(light, key) - reference).abs().max() <= 1e-5 * reference.abs().max()
