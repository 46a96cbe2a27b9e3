"""MoveNet in PyTorch against TF.js itself (fixtures written by tools/tfjs_reference.py from
the published graphs: `cd tools/tfjs && npm ci && cd ../.. && .venv/bin/python
tools/tfjs_reference.py`), plus the public API's geometry and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr import MoveNet, OpenHMRError
from openhmr.posenet.movenet import ASSETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED_MODELS = ROOT.parent / "shared" / "models" / "human-models-3.0.4"
VARIANTS = ("thunder", "lightning", "multipose")
NODES = {"backbone": "features.stride32", "fpn": "pyramid", "center": "centre",
         "heatmap": "keypoint_heatmap", "regress": "keypoint_regression",
         "offset": "keypoint_offset", "box_scale": "box_scale",
         "box_offset": "box_offset"}  # fmt: skip


@pytest.fixture(scope="module", params=VARIANTS)
def reference(request):
    net = MoveNet.pretrained(request.param)
    with np.load(DATA / f"tfjs_movenet_{request.param}.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    return request.param, net, data


def _inputs(data: dict) -> list[str]:
    return sorted(k.split("_")[1] for k in data if k.startswith("input_"))


def _run(net: MoveNet, image: np.ndarray):
    with torch.no_grad():
        return net(torch.from_numpy(image).permute(0, 3, 1, 2).float())


def _attr(output, dotted: str) -> np.ndarray:
    value = output
    for part in dotted.split("."):
        value = getattr(value, part)
    return value.permute(0, 2, 3, 1).numpy()


def test_feature_maps_match_tfjs(reference):
    variant, net, data = reference
    output = _run(net, data["input_0"])
    checked = 0
    for node, attr in NODES.items():
        if f"node_{node}" not in data:
            continue
        expected = data[f"node_{node}"]
        got = _attr(output, attr)
        assert got.shape == expected.shape, node
        relative = np.abs(got - expected).max() / np.abs(expected).max()
        assert relative < 1e-4, f"{variant} {node}: relative error {relative:.2e}"
        checked += 1
    assert checked >= 6


def _tfjs_single(output: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """(1, 1, 17, 3) y, x normalised, score -> (17, 3) x, y input pixels, score."""
    y, x, score = output[0, 0].T
    return np.stack([x * size_hw[1], y * size_hw[0], score], axis=1)


def test_decoded_outputs_match_tfjs(reference):
    variant, net, data = reference
    for i in _inputs(data):
        image, expected = data[f"input_{i}"], data[f"output_{i}"]
        height, width = image.shape[1:3]
        output = _run(net, image)
        if variant == "multipose":
            keypoints, boxes, scores = (t[0].numpy() for t in net.decode_multi(output))
            rows = expected[0]
            ref_kp = rows[:, :51].reshape(6, 17, 3)
            ref_xy = np.stack([ref_kp[..., 1] * width, ref_kp[..., 0] * height], axis=-1)
            assert np.abs(keypoints[..., :2] - ref_xy).max() <= 1e-4 * max(height, width)
            assert np.abs(keypoints[..., 2] - ref_kp[..., 2]).max() < 1e-4
            ref_boxes = rows[:, [52, 51, 54, 53]] * [width, height, width, height]
            assert np.abs(boxes - ref_boxes).max() <= 1e-4 * max(height, width)
            assert np.abs(scores - rows[:, 55]).max() < 1e-4
        else:
            got = net.decode_single(output)[0].numpy()
            ref = _tfjs_single(expected, (height, width))
            assert np.abs(got[:, :2] - ref[:, :2]).max() <= 1e-4 * height, f"{variant} input {i}"
            assert np.abs(got[:, 2] - ref[:, 2]).max() < 1e-4


def test_fixtures_show_people():
    """The references are worth matching: confident keypoints on the rendered people."""
    with np.load(DATA / "tfjs_movenet_thunder.npz") as npz:
        scores = [npz[k][0, 0, :, 2] for k in npz.files if k.startswith("output_")]
    assert all(np.median(s) > 0.3 for s in scores)


def test_batched_equals_one_by_one():
    net = MoveNet.pretrained("thunder")
    with np.load(DATA / "tfjs_movenet_thunder.npz") as npz:
        images = np.concatenate([npz[f"input_{i}"] for i in range(3)])
    together = net.decode_single(_run(net, images)).numpy()
    alone = np.concatenate([net.decode_single(_run(net, im[None])).numpy() for im in images])
    assert np.abs(together - alone).max() < 1e-3


def test_memory_layout_changes_no_values():
    """Channels-last (the default, for speed) and PyTorch's contiguous layout give the same
    maps, so TF.js parity above holds for both."""
    net = MoveNet.pretrained("lightning")
    with np.load(DATA / "tfjs_movenet_lightning.npz") as npz:
        images = np.concatenate([npz[f"input_{i}"] for i in range(2)])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().contiguous()
    with torch.no_grad():
        fast = net(x)
        net.channels_last = False
        plain = net(x)
    assert fast.pyramid.is_contiguous(memory_format=torch.channels_last)
    assert plain.pyramid.is_contiguous() and not fast.pyramid.is_contiguous()
    for name in ("pyramid", "keypoint_heatmap", "keypoint_regression", "keypoint_offset"):
        np.testing.assert_allclose(
            getattr(fast, name).numpy(), getattr(plain, name).numpy(), rtol=1e-3, atol=1e-3
        )


def test_keypoints_api_maps_crops_back_to_the_image():
    """An identity crop reproduces TF.js's keypoints in pixels; the same picture pasted into
    a larger photo at an integer offset gives the same keypoints shifted by the offset."""
    net = MoveNet.pretrained("thunder")
    with np.load(DATA / "tfjs_movenet_thunder.npz") as npz:
        image, expected = npz["input_1"][0], npz["output_1"]
    ref = _tfjs_single(expected, (256, 256))
    got = net.keypoints(image, np.array([[0.0, 0.0, 256.0, 256.0]]))
    assert got.shape == (1, 17, 3) and got.dtype == np.float64
    assert np.abs(got[0, :, :2] - ref[:, :2]).max() < 0.03
    canvas = np.zeros((400, 500, 3), np.uint8)
    canvas[53 : 53 + 256, 37 : 37 + 256] = image
    # a box of another aspect ratio with the same square: side = max(w, h) about its centre
    shifted = net.keypoints(canvas, np.array([[37.0 + 28, 53.0, 200.0, 256.0]]))
    assert np.abs(shifted[0, :, :2] - ref[:, :2] - [37, 53]).max() < 0.03
    # margin: the square's side is margin × the box's longer side
    widened = net.keypoints(image, np.array([[64.0, 64.0, 128.0, 128.0]]), margin=2.0)
    assert np.abs(widened[0, :, :2] - ref[:, :2]).max() < 0.03
    with pytest.raises(OpenHMRError, match="margin must be > 0"):
        net.keypoints(image, np.array([[0.0, 0.0, 256.0, 256.0]]), margin=0.0)
    scaled = net.keypoints(np.repeat(np.repeat(image, 2, 0), 2, 1), np.array([[0, 0, 512, 512]]))
    confident = ref[:, 2] > 0.3
    assert np.abs(scaled[0, confident, :2] / 2 - ref[confident, :2]).max() < 2.0


def test_keypoints_read_turned_boxes_find_people_upside_down_and_sideways():
    """TF.js's photo turned by 180° and 90°: read one way up, Thunder loses the person; read 4
    ways up, its keypoints are TF.js's on the upright photo, moved with the turn (pixels)."""
    net = MoveNet.pretrained("thunder")
    with np.load(DATA / "tfjs_movenet_thunder.npz") as npz:
        image, expected = npz["input_1"][0], npz["output_1"]
    ref = _tfjs_single(expected, (256, 256))
    box = np.array([[0.0, 0.0, 256.0, 256.0]])
    confident = ref[:, 2] > 0.3
    turned = {  # np.rot90 counter-clockwise on screen: (x, y) -> (y, 256 - x)
        2: (np.rot90(image, 2), np.stack([256 - ref[:, 0], 256 - ref[:, 1]], axis=1)),
        1: (np.rot90(image, 1), np.stack([ref[:, 1], 256 - ref[:, 0]], axis=1)),
    }
    for picture, points in turned.values():
        picture = np.ascontiguousarray(picture)
        once = net.keypoints(picture, box)[0]
        found = net.keypoints(picture, box, orientations=4)[0]
        assert np.abs(found[confident, :2] - points[confident]).max() < 2.0
        assert found[:, 2].mean() > once[:, 2].mean() + 0.1
        assert np.abs(once[confident, :2] - points[confident]).max() > 20.0
    upright = net.keypoints(image, box, orientations=4)[0]  # the upright reading wins
    np.testing.assert_allclose(upright, net.keypoints(image, box)[0], atol=1e-4)  # batch of 4
    with pytest.raises(OpenHMRError, match="orientations"):
        net.keypoints(image, box, orientations=3)


def test_detect_finds_the_astronaut_and_nobody_in_a_blank_image():
    from openhmr.inference.predictor import load_image

    net = MoveNet.pretrained("multipose")
    image = load_image(ROOT / "src/openhmr/inference/assets/astronaut.jpg")
    people = net.detect(image)
    assert len(people) >= 1
    x, _, w, h = people.boxes[0]
    assert people.keypoints.shape == (len(people), 17, 3)
    assert w > 0.3 * image.shape[1] and h > 0.5 * image.shape[0]
    inside = (people.keypoints[0, :, 0] >= x - 5) & (people.keypoints[0, :, 0] <= x + w + 5)
    assert inside[people.keypoints[0, :, 2] > 0.3].all()
    assert np.all(np.diff(people.scores) <= 0)
    blank = net.detect(np.full((300, 200, 3), 127, np.uint8))
    assert len(blank) == 0 and blank.keypoints.shape == (0, 17, 3)


def test_detect_on_a_canvas_of_the_image_shape():
    """square=False: the frame scaled as letter-boxing scales it, on a canvas of its own shape
    (0.63 of the square's pixels at 256 for 640 x 360): the same person, the same place."""
    import cv2

    from openhmr.inference.predictor import load_image
    from openhmr.posenet.image import fit_to_stride

    photo = load_image(ROOT / "src/openhmr/inference/assets/astronaut.jpg")
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[40:340, 200:500] = cv2.resize(photo, (300, 300), interpolation=cv2.INTER_AREA)
    canvas, scale = fit_to_stride(frame, 384)
    assert canvas.shape == (224, 384, 3) and (canvas[216:] == 0).all()
    np.testing.assert_array_equal(
        canvas[:216], cv2.resize(frame, (384, 216), interpolation=cv2.INTER_AREA)
    )
    np.testing.assert_allclose(scale, [0.6, 0.6])
    assert fit_to_stride(frame, 256)[0].shape == (160, 256, 3)
    net = MoveNet.pretrained("multipose")
    square, fitted = net.detect(frame), net.detect(frame, square=False)
    assert len(square) >= 1 and len(fitted) == len(square)
    assert 190 < fitted.boxes[0, 0] < 230 and fitted.boxes[0, 3] > 200  # in the photo's place
    np.testing.assert_allclose(fitted.boxes[0], square.boxes[0], atol=8)
    confident = (fitted.keypoints[0, :, 2] > 0.3) & (square.keypoints[0, :, 2] > 0.3)
    assert confident.sum() >= 10
    gap = np.linalg.norm(
        fitted.keypoints[0, confident, :2] - square.keypoints[0, confident, :2], axis=1
    )
    assert np.median(gap) < 3
    with pytest.raises(OpenHMRError, match="size must be a whole number >= 32, got 0"):
        net.detect(frame, size=0, square=False)


def test_half_precision_and_gradients():
    net = MoveNet.pretrained("lightning")
    with np.load(DATA / "tfjs_movenet_lightning.npz") as npz:
        image, expected = npz["input_1"], npz["output_1"]
    ref = _tfjs_single(expected, (192, 192))
    x = torch.from_numpy(image).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        half = net.half().decode_single(net(x.half()))[0].float().numpy()
    net.float()
    confident = ref[:, 2] > 0.3
    assert np.abs(half[confident, :2] - ref[confident, :2]).max() < 2.0
    keypoints = net.decode_single(net(x.requires_grad_()))
    keypoints[..., :2].sum().backward()
    head = net.heads["keypoint_offset"].output.weight.grad
    assert head is not None and head.abs().sum() > 0 and x.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    net = MoveNet.pretrained("thunder")
    with np.load(DATA / "tfjs_movenet_thunder.npz") as npz:
        x = torch.from_numpy(npz["input_0"]).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        cpu = net.decode_single(net(x))
        gpu = net.cuda().decode_single(net(x.cuda())).cpu()
    assert (cpu - gpu).abs().max() < 1e-2


@pytest.mark.parametrize(
    ("image", "boxes", "message"),
    [
        (np.zeros((64, 64, 3), np.float32), [[0, 0, 10, 10]], "uint8"),
        (np.zeros((64, 64), np.uint8), [[0, 0, 10, 10]], "(H, W, 3)"),
        (np.zeros((0, 64, 3), np.uint8), [[0, 0, 10, 10]], "(H, W, 3)"),
        (np.zeros((64, 64, 3), np.uint8), [[100, 100, 10, 10]], "outside"),
        (np.zeros((64, 64, 3), np.uint8), [[0, 0, -5, 10]], "w, h > 0"),
        (np.zeros((64, 64, 3), np.uint8), [[0, 0, 10]], "(N, 4)"),
        (np.zeros((64, 64, 3), np.uint8), [[0, 0, np.nan, 10]], "w, h > 0"),
    ],
)
def test_bad_inputs_get_one_clear_error(image, boxes, message):
    net = MoveNet("lightning")
    with pytest.raises(OpenHMRError, match=message.replace("(", r"\(").replace(")", r"\)")):
        net.keypoints(image, np.asarray(boxes, dtype=np.float64))


def test_wrong_variant_and_wrong_calls():
    with pytest.raises(OpenHMRError, match="expected one of"):
        MoveNet("giant")
    with pytest.raises(OpenHMRError, match="multipose"):
        MoveNet("lightning").detect(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(OpenHMRError, match="multiples of 32"):
        MoveNet("lightning")(torch.zeros(1, 3, 100, 96))
    assert MoveNet("lightning").keypoints(
        np.zeros((8, 8, 3), np.uint8), np.zeros((0, 4))
    ).shape == (
        0,
        17,
        3,
    )


def test_weight_files_are_checked(tmp_path):
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(OpenHMRError, match="not a readable safetensors"):
        MoveNet.pretrained("lightning", bad)
    with pytest.raises(OpenHMRError, match="not found"):
        MoveNet.pretrained("lightning", tmp_path / "missing.safetensors")
    # Thunder's weights do not fit Lightning's modules
    with pytest.raises(OpenHMRError, match="shape"):
        MoveNet.pretrained("lightning", ASSETS / "movenet_thunder.safetensors")
    partial = load_file(str(ASSETS / "movenet_lightning.safetensors"))
    partial.pop("fpn.lateral4.bias")
    save_file(partial, str(tmp_path / "partial.safetensors"))
    with pytest.raises(OpenHMRError, match=r"missing \['fpn.lateral4.bias'\]"):
        MoveNet.pretrained("lightning", tmp_path / "partial.safetensors")


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="needs ../shared/models")
@pytest.mark.parametrize("variant", VARIANTS)
def test_bundled_weights_are_the_published_ones(variant):
    """The shipped float16 files hold exactly the TF.js graph's weights, every one mapped."""
    from safetensors.numpy import load_file

    from openhmr.posenet.convert import state_dict_from_graph
    from openhmr.posenet.tfjs import read_graph_model

    graph = read_graph_model(SHARED_MODELS / f"movenet-{variant}.json")
    state = state_dict_from_graph(graph, MoveNet(variant))
    shipped = load_file(str(ASSETS / f"movenet_{variant}.safetensors"))
    assert set(state) == set(shipped)
    for name, value in state.items():
        assert np.array_equal(shipped[name].astype(np.float32), value), name
    float_weights = [w for w in graph.weights.values() if w.dtype.kind == "f" and w.ndim in (1, 4)]
    assert sum(w.size for w in float_weights) >= sum(v.size for v in state.values())


@pytest.mark.slow
@pytest.mark.skipif(
    not (ROOT / "tools/tfjs/node_modules/@tensorflow/tfjs").is_dir()
    or not SHARED_MODELS.is_dir()
    or shutil.which("node") is None,
    reason="needs node, tools/tfjs/node_modules (npm ci) and ../shared/models",
)
def test_regenerated_tfjs_outputs_match(tmp_path):
    """Run TF.js now (node) on a fresh input and compare with PyTorch."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from tfjs_reference import run_tfjs

    rng = np.random.default_rng(3)
    image = (rng.random((1, 192, 192, 3)) * 255).astype(np.uint8)
    with np.load(DATA / "tfjs_movenet_lightning.npz") as npz:
        image[0, 32:160, 32:160] = npz["input_1"][0, ::1, ::1][32:160, 32:160]
    expected = run_tfjs(SHARED_MODELS / "movenet-lightning.json", image, [], repeat=0)["output"]
    net = MoveNet.pretrained("lightning")
    got = net.decode_single(_run(net, image))[0].numpy()
    ref = _tfjs_single(expected.reshape(1, 1, 17, 3), (192, 192))
    assert np.abs(got[:, :2] - ref[:, :2]).max() <= 1e-4 * 192
    assert np.abs(got[:, 2] - ref[:, 2]).max() < 1e-4


def test_onnx_export_matches_pytorch(tmp_path):
    """The exported maps run in ONNX Runtime as in PyTorch (dynamic batch)."""
    ort = pytest.importorskip("onnxruntime")
    from openhmr.posenet.export import export_movenet_onnx, output_names

    net = MoveNet.pretrained("lightning")
    path = export_movenet_onnx(net, tmp_path / "lightning.onnx")
    with np.load(DATA / "tfjs_movenet_lightning.npz") as npz:
        images = np.concatenate([npz["input_1"], npz["input_2"], npz["input_3"]])
    x = images.transpose(0, 3, 1, 2).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip(output_names(net), session.run(None, {"images": x}), strict=True))
    expected = _run(net, images)
    for name, value in got.items():
        reference = getattr(expected, name).numpy()
        assert np.abs(value - reference).max() <= 1e-4 * np.abs(reference).max(), name
