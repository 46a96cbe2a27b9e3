"""ONNX export: onnxruntime's output equals PyTorch's to 1e-4; the CLI writes the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr import HMR, OpenHMRError, save_checkpoint
from openhmr.cli import main

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.mark.parametrize(
    "backbone", ["resnet50", pytest.param("resnet50_v2", marks=pytest.mark.slow)]
)
def test_onnx_matches_pytorch_for_every_iteration(tmp_path: Path, backbone: str):
    from openhmr.model.export import export_onnx

    torch.manual_seed(0)
    model = HMR(backbone=backbone, width=8, hidden=64).eval()
    path = export_onnx(model, tmp_path / "hmr.onnx", image_size=64)
    assert [p.name for p in tmp_path.iterdir()] == ["hmr.onnx"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    (got,) = session.run(None, {"images": images.numpy()})  # batch 3: dynamic batch axis
    with torch.no_grad():
        want = torch.stack(model.regress(images), dim=1).numpy()
    assert got.shape == (3, 3, 85)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("orientations", [1, 4])
def test_onnx_of_the_movenet_encoder_model_matches_pytorch(tmp_path: Path, orientations: int):
    """The default model's architecture: MoveNet's decoding (argmax, gathers) and the
    orientation search (turns, the most confident read) are in the graph."""
    from openhmr.model.export import export_onnx

    torch.manual_seed(0)
    model = HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
                features="pooled+keypoints", hidden=64,
                orientations=orientations).eval()  # fmt: skip
    path = export_onnx(model, tmp_path / "hmr.onnx", image_size=192)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    data = Path(__file__).resolve().parent / "data" / "tfjs_movenet_lightning.npz"
    with np.load(data) as npz:  # real photographs' crops, so the keypoint argmaxes are clear
        images = np.concatenate([npz[f"input_{i}"] for i in range(3)]).astype(np.float32)
    images = torch.from_numpy(images).permute(0, 3, 1, 2)
    images = torch.cat([images, torch.rot90(images[:1], 2, dims=(2, 3))]).contiguous()
    (got,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        want = torch.stack(model.regress(images), dim=1).numpy()
    assert got.shape == (4, 3, 85)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_cli_exports_a_checkpoint(tmp_path: Path, capfd):
    torch.manual_seed(0)
    model = HMR(head="spin", normalization="imagenet", width=8, hidden=32).eval()
    checkpoint = save_checkpoint(tmp_path / "m.safetensors", model)
    out = tmp_path / "m.onnx"
    assert main(["export", "--onnx", str(out), "--checkpoint", str(checkpoint),
                 "--image-size", "64"]) == 0  # fmt: skip
    captured = capfd.readouterr()
    assert "spin head" in captured.out
    assert captured.err == ""  # torch's exporter notes no missing torchvision (unused here)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    images = torch.randn(1, 3, 64, 64)
    (got,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        want = torch.stack(model.regress(images), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_cli_default_checkpoint_is_the_bundled_model(tmp_path: Path, capsys, monkeypatch):
    """`--checkpoint default` names the bundled model, as in the demo and `Predictor`."""
    import openhmr.model.export
    from openhmr.inference.predictor import DEFAULT_MODEL
    from openhmr.model import load_checkpoint

    exported = {}

    def fake_export(model, path, image_size, dynamic_batch):  # the real one: the test above
        exported.update(config=model.config, image_size=image_size)
        Path(path).write_bytes(b"onnx")

    monkeypatch.setattr(openhmr.model.export, "export_onnx", fake_export)
    out = tmp_path / "default.onnx"
    assert main(["export", "--onnx", str(out), "--checkpoint", "default"]) == 0
    bundled = load_checkpoint(DEFAULT_MODEL).model.config
    assert exported == {"config": bundled, "image_size": bundled.image_size}
    assert capsys.readouterr().out.startswith(f"wrote {out}: default, ")


def test_cli_bad_checkpoint_is_one_line_error(tmp_path: Path, capsys):
    code = main(["export", "--onnx", str(tmp_path / "x.onnx"), "--checkpoint",
                 str(tmp_path / "missing.pt")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("openhmr export: error:") and "\n" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_of_a_network_with_keypoint_feedback_matches_pytorch(tmp_path: Path):
    """Each IEF step poses the body model's keypoints inside the graph."""
    from openhmr.body import load_body_model
    from openhmr.model.export import export_onnx

    torch.manual_seed(0)
    model = HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
                features="seen-keypoints", hidden=64, feedback="keypoints",
                body_model=load_body_model("open-annotated")).eval()  # fmt: skip
    path = export_onnx(model, tmp_path / "hmr.onnx", image_size=192)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with np.load(Path(__file__).resolve().parent / "data" / "tfjs_movenet_lightning.npz") as npz:
        images = np.concatenate([npz[f"input_{i}"] for i in range(2)]).astype(np.float32)
    images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    (got,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        want = torch.stack(model.regress(images), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    model.body_model = None
    with pytest.raises(OpenHMRError, match="needs its body model"):
        export_onnx(model, tmp_path / "again.onnx", image_size=192)


@pytest.mark.slow  # a minute on two cores: `make test-slow`
def test_onnx_of_an_encoder_reading_blazepose_matches_pytorch(tmp_path: Path):
    """BlazePose's crop placement, warp and both networks (heavy and full) are in the graph: a
    real photo's crop and the same crop upside down give PyTorch's parameters."""
    from PIL import Image

    from openhmr.inference.command import EXAMPLE_IMAGE
    from openhmr.model.export import export_onnx

    torch.manual_seed(0)
    model = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="seen-keypoints+blazepose+blazepose-full", hidden=32).eval()  # fmt: skip
    path = export_onnx(model, tmp_path / "hmr.onnx", image_size=256)
    photo = np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    side = min(photo.shape[:2])
    crop = np.asarray(Image.fromarray(photo[:side, :side]).resize((256, 256)))
    images = torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float()
    images = torch.cat([images, torch.rot90(images, 2, dims=(2, 3))]).contiguous()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        want = torch.stack(model.regress(images), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
