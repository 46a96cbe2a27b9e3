"""The pose networks in bfloat16 (`openhmr.posenet.precision`) against TF.js's float32 outputs
(the fixtures of test_posenet.py and test_blazepose.py), batch invariance, the weight copy
following the weights, and the precision options of the Predictor and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr import MoveNet, OpenHMRError
from openhmr.posenet.blazepose import BlazePose
from openhmr.posenet.precision import (
    native_bfloat16,
    posenet_precision,
    precision_name,
    reduced_twin,
    resolve_precision,
)
from tests.test_blazepose import fixture_crop
from tests.test_posenet import _tfjs_single

DATA = Path(__file__).resolve().parent / "data"
BF16 = torch.bfloat16


def test_resolve_precision_names_and_errors():
    assert resolve_precision("float32") is None
    assert resolve_precision("bfloat16") is BF16
    assert resolve_precision("auto", "cuda") is None  # auto reads the CPU's flags only
    assert resolve_precision("auto") is (BF16 if native_bfloat16() else None)
    assert precision_name(None) == "float32" and precision_name(BF16) == "bfloat16"
    with pytest.raises(OpenHMRError, match="precision: expected one of auto, float32"):
        resolve_precision("fp16")


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse avx2 avx512f avx512bw amx_bf16 amx_tile", True),
        ("fpu sse avx2 avx512f avx512_bf16", True),
        ("fpu sse avx2 avx512f avx512bw avx512_vnni", False),
        (None, False),  # no cpuinfo (not Linux)
    ],
)
def test_native_bfloat16_reads_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / f"cpuinfo_{native}_{flags is None}"
    if flags is not None:
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: {flags}\n")
    assert native_bfloat16(cpuinfo) is native


def _thunder_inputs():
    with np.load(DATA / "tfjs_movenet_thunder.npz") as npz:
        images = np.concatenate([npz[f"input_{i}"] for i in range(3)])
        expected = [npz[f"output_{i}"] for i in range(3)]
    return torch.from_numpy(images).permute(0, 3, 1, 2).float(), expected


def test_movenet_in_bfloat16_stays_near_tfjs_and_hands_back_float32():
    net = MoveNet.pretrained("thunder")
    x, expected = _thunder_inputs()
    with torch.no_grad():
        exact = net(x)
        with posenet_precision(BF16):
            reduced = net(x)
        after = net(x)  # the block has ended: float32 again, the same values
    assert reduced.keypoint_heatmap.dtype == torch.float32
    assert torch.equal(after.keypoint_heatmap, exact.keypoint_heatmap)
    got = net.decode_single(reduced).numpy()
    for i, tfjs in enumerate(expected):
        ref = _tfjs_single(tfjs, (256, 256))
        confident = ref[:, 2] > 0.3
        assert confident.sum() >= 10
        error = np.linalg.norm(got[i, confident, :2] - ref[confident, :2], axis=-1)
        # float32 is within 0.03 px of TF.js (test_posenet); bfloat16 within a few px of 256
        assert np.median(error) < 1.0 and error.max() < 4.0, f"input {i}: {error}"
        score_error = np.abs(got[i, confident, 2] - ref[confident, 2])
        assert np.median(score_error) < 0.05 and score_error.max() < 0.3, score_error


def test_bfloat16_results_do_not_depend_on_the_batch():
    """What lets a batch run equal the demo on the same images (docs/batch.md)."""
    net = MoveNet.pretrained("thunder")
    x, _ = _thunder_inputs()
    with torch.no_grad(), posenet_precision(BF16):
        together = net.decode_single(net(x))
        alone = torch.cat([net.decode_single(net(x[i : i + 1])) for i in range(len(x))])
    assert torch.equal(together, alone)


def test_blazepose_heavy_in_bfloat16_stays_near_tfjs():
    with np.load(DATA / "tfjs_blazepose_heavy.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    net = BlazePose.pretrained("heavy")
    for i in range(3):  # the photo and two renders (the fourth input is blank)
        x = fixture_crop("heavy", i)
        with torch.no_grad(), posenet_precision(BF16):
            out = net(x, dense=False)
        assert out.ld_3d.dtype == torch.float32
        ld = data[f"ld_3d_{i}"].reshape(-1, 5)[:33]
        world = data[f"world_3d_{i}"].reshape(-1, 3)[:33]
        xy_error = np.linalg.norm(out.ld_3d[0, :33, :2].numpy() - ld[:, :2], axis=-1)
        world_error = np.linalg.norm(out.world_3d[0, :33].numpy() - world, axis=-1)
        # bfloat16 keeps 8 bits: 1–3 px of the 256 crop (float16, 11 bits: under 2 px)
        assert np.median(xy_error) < 4.0 and xy_error.max() < 10.0, (i, xy_error)
        assert np.median(world_error) < 0.04 and world_error.max() < 0.1, (i, world_error)
        assert abs(float(out.pose_flag[0]) - float(data[f"pose_flag_{i}"].ravel()[0])) < 0.02


def test_blazepose_full_stays_float32():
    """Its world landmarks move 14 cm in bfloat16 on the photo: it ignores the setting."""
    x = fixture_crop("full", 0)
    net = BlazePose.pretrained("full")
    with torch.no_grad():
        exact = net(x, dense=False)
        with posenet_precision(BF16):
            same = net(x, dense=False)
    assert torch.equal(exact.world_3d, same.world_3d) and torch.equal(exact.ld_3d, same.ld_3d)


def test_the_weight_copy_follows_the_weights():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    first = reduced_twin(conv, BF16)
    assert reduced_twin(conv, BF16) is first and first.weight.dtype == BF16
    assert "_reduced_twins" not in dict(conv.state_dict())
    with torch.no_grad():
        conv.weight.mul_(2.0)  # written in place
    second = reduced_twin(conv, BF16)
    assert second is not first
    torch.testing.assert_close(second.weight.float(), conv.weight.detach(), rtol=1e-2, atol=1e-2)
    conv.load_state_dict({"weight": torch.zeros_like(conv.weight), "bias": conv.bias.detach()})
    with torch.no_grad():
        zeroed = reduced_twin(conv, BF16)(x.to(BF16)).float()
    bias = conv.bias.detach()[None, :, None, None].expand_as(zeroed)
    torch.testing.assert_close(zeroed, bias, rtol=1e-2, atol=1e-3)


@pytest.fixture(scope="module")
def predictors():
    from openhmr.inference.predictor import Predictor

    exact = Predictor.from_checkpoint("default", precision="float32")
    reduced = Predictor.from_checkpoint("default", precision="bfloat16")
    return exact, reduced


def test_predictor_in_bfloat16_moves_the_body_less_than_invisible_noise_does(predictors):
    """On the half-length photo the model is sensitive (its unseen legs hang on keypoint
    scores near the cut-off): pixel noise of ±2 levels moves its projected joints by ~12 px in
    float32. bfloat16 may move them by no more than twice that."""
    from openhmr.inference.predictor import ASSETS, load_image

    image = load_image(ASSETS / "astronaut.jpg")
    box = np.array([[40.0, 10.0, 340.0, 500.0]])  # the detector misses her (a seated crop)
    exact, reduced = predictors
    assert exact.compute_dtype is None and reduced.compute_dtype is BF16
    noise = np.random.default_rng(0).integers(-2, 3, image.shape)
    noisy = np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)
    [a], [b] = exact.predict_many([image, noisy], [box, box])
    [c] = reduced.predict_many([image], [box])[0]

    def moved(p, q) -> float:
        return float(
            np.median(np.linalg.norm(p.keypoints2d[:, :2] - q.keypoints2d[:, :2], axis=-1))
        )

    assert moved(a, c) <= 2.0 * moved(a, b), (moved(a, c), moved(a, b))
    assert moved(a, c) < 40.0  # pixels of the 512 photo


def test_predictor_refuses_an_unknown_precision():
    from openhmr.inference.predictor import Predictor

    with pytest.raises(OpenHMRError, match="precision: expected one of"):
        Predictor.from_checkpoint("default", precision="half")


def test_cli_precision_choices(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "openhmr", "demo", "--precision", "fp16", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "--precision" in result.stderr and "'fp16'" in result.stderr
