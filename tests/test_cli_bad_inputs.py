"""Every command refuses every bad input the same way: exit code 2, exactly one line on stderr
(`openhmr <command>: error: ...`) naming what was expected, no traceback, nothing on stdout and
nothing left behind (no file or folder at the output path, nothing new anywhere).

A new command, or a new way to go wrong, joins TABLE: (command line, text the message must
hold).  `{in}` is a folder of prepared bad inputs (which no case may change), `{out}` an empty
folder that must stay empty, `{quick}` configs/quick.yaml.  The cases run in-process through
`openhmr.cli.main` with CUDA reported absent, so "--device cuda" is a bad input everywhere."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch

from openhmr.cli import build_parser, main
from openhmr.inference.predictor import ASSETS

COMMANDS = tuple(build_parser()._subparsers._group_actions[0].choices)

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.yaml"

TABLE: list[tuple[str, str]] = [
    # no command, unknown command
    ("", "required: COMMAND"),
    ("frobnicate", "invalid choice: 'frobnicate'"),
    # body
    ("body --betas nan --out {out}/b.obj", "--betas: expected a number in [-10, 10], got nan"),
    ("body --betas 1,inf --out {out}/b.obj", "--betas: expected a number in [-10, 10], got inf"),
    ("body --betas 1e9 --out {out}/b.obj", "--betas: expected a number in [-10, 10]"),
    ("body --betas 1,x --out {out}/b.obj", "expected comma-separated numbers"),
    ("body --betas 0,0,0,0,0,0,0,0,0,0,0 --out {out}/b.obj", "betas: expected (B, n) with n ≤ 10"),
    ("body --out {out}/b.stl", "--out: expected a file name ending in .obj or .ply or .glb"),
    ("body --out {out}", "is a folder; expected a file path"),
    ("body --out {in}/file.txt/b.obj", "file.txt is a file, not a folder"),
    ("body --pose dance --out {out}/b.obj", "invalid choice: 'dance'"),
    ("body --body-model {in}/missing.pkl --out {out}/b.obj", "body model file not found"),
    ("body --body-model {in}/photo.jpg --out {out}/b.obj", "photo.jpg"),
    # convert
    (
        "convert lspet {in}/lspet_empty {out}/c",
        "expected a MATLAB .mat file with a 'joints' matrix",
    ),
    ("convert lspet {in}/lspet_text {out}/c", "found a text file that scipy cannot read"),
    ("convert lspet {in}/lspet_other {out}/c", "expected a 'joints' matrix, found the variables"),
    ("convert lspet {in}/missing {out}/c", "LSP-extended joints.mat not found"),
    ("convert lspet {in}/lspet_empty {in}/file.txt", "out: expected a folder, but"),
    (
        "convert lspet {in}/lspet_empty {out}/c --holdout 1.5",
        "--holdout: expected a number in [0, 1)",
    ),
    (
        "convert lspet {in}/lspet_empty {out}/c --holdout -0.1",
        "--holdout: expected a number in [0, 1)",
    ),
    ("convert lspet {in}/lspet_empty {out}/c --split train", "--split applies to 3dpw only"),
    ("convert 3dpw {in}/missing {out}/c --split val", "invalid choice: 'val'"),
    ("convert coco {in}/missing.json {out}/c --holdout 0.1", "--holdout applies to lspet only"),
    ("convert coco {in}/missing.json {out}/c", "COCO annotation file not found"),
    ("convert lsp-extended {in} {out}/c", "invalid choice: 'lsp-extended'"),
    # synth
    ("synth --out {out}/s --num 0", "--num: expected an integer ≥ 1, got 0"),
    ("synth --out {out}/s --num 1 --occluders -1", "--occluders: expected a number in [0, 1]"),
    ("synth --out {out}/s --num 1 --occluders 1.5", "--occluders: expected a number in [0, 1]"),
    ("synth --out {out}/s --num 1 --size 8", "--size: expected an integer ≥ 64, got 8"),
    ("synth --out {out}/s --num 1 --workers 0", "--workers: expected an integer ≥ 1, got 0"),
    ("synth --out {out}/s --num 1 --seed -1", "--seed: expected an integer ≥ 0, got -1"),
    (
        "synth --out {out}/s --num 1 --mocap {in}/photo.jpg",
        "expected a pose set (.npz), found a JPEG",
    ),
    ("synth --out {out}/s --num 1 --mocap {in}/empty.npz", "found an empty file"),
    ("synth --out {out}/s --num 1 --mocap {in}/truncated.npz", "not a readable pose set"),
    ("synth --out {out}/s --num 1 --mocap {in}/missing.npz", "missing.npz"),
    ("synth --out {out}/s --num 1 --backgrounds {in}/missing", "backgrounds folder not found"),
    ("synth --out {out}/s --num 1 --backgrounds {in}/no_images", "no images"),
    ("synth --out {in}/file.txt --num 1", "--out: expected a folder, but"),
    # mocap
    ("mocap {in}/bvh --out {out}/p.npz --fps -5", "--fps: expected a number > 0, got -5"),
    ("mocap {in}/bvh --out {out}/p.npz --fps 0", "--fps: expected a number > 0, got 0"),
    ("mocap {in}/bvh --out {out}/p.npz --min-change -1", "--min-change: expected a number ≥ 0"),
    ("mocap {in}/bvh --out {out}/p.npz --skeleton foo", "skeleton: expected 'auto', one of"),
    ("mocap {in}/missing --out {out}/p.npz", "no such file or folder"),
    ("mocap {in}/no_images --out {out}/p.npz", "no .bvh, .bvh.gz or .npz files"),
    ("mocap {in}/bvh --out {out}", "is a folder; expected a file path"),
    ("mocap {in}/bvh --out {out}/poses.txt", "--out: expected a file name ending in .npz"),
    ("mocap {in}/bvh --out {out}/p.npz --body-model {in}/missing.pkl", "not found"),
    # export
    ("export --onnx {out}", "is a folder; expected a file path"),
    ("export --onnx {out}/model.txt", "--onnx: expected a file name ending in .onnx"),
    ("export --onnx {in}/file.txt/m.onnx", "file.txt is a file, not a folder"),
    ("export --onnx {out}/m.onnx --image-size 8", "--image-size: expected an integer ≥ 32"),
    ("export --onnx {out}/m.onnx --backbone vgg", "invalid choice: 'vgg'"),
    ("export --onnx {out}/m.onnx --checkpoint {in}/photo.jpg", "expected a checkpoint"),
    ("export --onnx {out}/m.onnx --checkpoint {in}/empty.pt", "found an empty file"),
    ("export --onnx {out}/m.onnx --checkpoint {in}/file.txt", "found a text file"),
    ("export --onnx {out}/m.onnx --checkpoint {in}/pickled.pt", "holds Python objects"),
    ("export --onnx {out}/m.onnx --checkpoint {in}/text.safetensors", "not a readable safetensors"),
    ("export --onnx {out}/m.onnx --checkpoint {in}/missing.pt", "no such file"),
    # eval
    (
        "eval --checkpoint default --protocol synthetic --data {in}/synth --device cuda "
        "--out {out}/e.json",
        "--device cuda: this machine has no usable CUDA GPU",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/synth --device tpu "
        "--out {out}/e.json",
        "--device: expected cpu, cuda, cuda:N or mps",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/synth --workers -1 "
        "--out {out}/e.json",
        "--workers: expected an integer ≥ 0, got -1",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/synth --batch-size 0 "
        "--out {out}/e.json",
        "--batch-size: expected an integer ≥ 1",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/synth --limit 0 "
        "--out {out}/e.json",
        "--limit: expected an integer ≥ 1",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/synth --out {out}",
        "is a folder; expected a file path",
    ),
    (
        "eval --checkpoint default --protocol h36m --data {in}/synth --out {out}/e.json",
        "unknown protocol 'h36m'; expected one of",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/photo.jpg --out {out}/e.json",
        "expected a record index (.npz), found a JPEG image",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/empty.npz --out {out}/e.json",
        "expected a record index (.npz), found an empty file",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/truncated.npz "
        "--out {out}/e.json",
        "not a readable record index",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/objects.npz --out {out}/e.json",
        "holds Python objects (object arrays), which are never unpickled",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/two_indexes --out {out}/e.json",
        "several record indexes (a.npz, b.npz); name one",
    ),
    (
        "eval --checkpoint default --protocol synthetic --data {in}/no_images --out {out}/e.json",
        "expected a record index (.npz) or a folder holding one",
    ),
    (
        "eval --checkpoint {in}/photo.jpg --protocol synthetic --data {in}/synth "
        "--out {out}/e.json",
        "found a JPEG image",
    ),
    (
        "eval --checkpoint {in}/missing.safetensors --protocol synthetic --data {in}/synth "
        "--out {out}/e.json",
        "no such file",
    ),
    # train: every value is checked before any data is generated or any file written
    ("train --config {in}/binary.yaml", "expected a YAML config (text), found a binary file"),
    ("train --config {in}/photo.jpg", "found a JPEG image"),
    ("train --config {in}/missing.yaml", "config file not found"),
    ("train --config {in}/list.yaml", "expected a YAML mapping of sections"),
    ("train --config {in}/broken.yaml", "not valid YAML"),
    (
        "train --config {quick} --set model.width=0",
        "config model.width: expected an integer ≥ 1",
    ),
    ("train --config {quick} --set model.width=abc", "config model.width: expected a number"),
    (
        "train --config {quick} --set model.width=8.5",
        "config model.width: expected an integer",
    ),
    ("train --config {quick} --set model.image_size=16", "model.image_size: expected an"),
    ("train --config {quick} --set model.backbone=vgg", "model.backbone: expected one of"),
    ("train --config {quick} --set model.mean_pose=average", "model.mean_pose: expected"),
    (
        "train --config {quick} --set data.batch_size=0",
        "data.batch_size: expected an integer",
    ),
    ("train --config {quick} --set data.workers=-1", "data.workers: expected an integer ≥ 0"),
    ("train --config {quick} --caches-only", "the config caches nothing"),
    ("train --config {quick} --entries x", "--entries: expected positions"),
    ("pseudo-label {in}/missing.npz --out {out}/p", "missing.npz"),
    ("pseudo-label {in}/synth --out {out}/p --chunk 0", "--chunk: expected an integer ≥ 1"),
    ("pseudo-label {in}/synth --out {out}/p --targets both", "targets: expected one of"),
    ("pseudo-label {in}/synth --out {out}/p --source vitpose", "keypoint source: expected one of"),
    ("pseudo-label {in}/synth --out {out}/p --fit nope=1", "--fit: expected KEY=VALUE"),
    ("pseudo-label {in}/synth --out {out}/p --merge {out}/m.txt", "--merge"),
    ("pseudo-label {in}/synth --out {out}/p --max-error 0", "--max-error: expected a number > 0"),
    ("train --config {quick} --set data.train=[]", "data.train is empty"),
    (
        "train --config {quick} --set 'data.train=[{index: {in}/missing.npz}]'",
        "data.train[0].index: no such file",
    ),
    ("train --config {quick} --set data.val=synthetic:test", "names no split"),
    ("train --config {quick} --set data.mocap={in}/missing.npz", "data.mocap: no such file"),
    ("train --config {quick} --set 'data.augment={flip: 1}'", "data.augment: unknown keys"),
    ("train --config {quick} --set 'data.augment={flip_prob: 2}'", "flip_prob: expected"),
    ("train --config {quick} --set data.synthetic.train.num=0", "train.num: expected"),
    ("train --config {quick} --set optim.encoder_lr=-1", "optim.encoder_lr: expected a"),
    ("train --config {quick} --set optim.discriminator_lr=nan", "discriminator_lr: expect"),
    ("train --config {quick} --set 'optim.weights={smpl: -1}'", "optim.weights.smpl: expe"),
    ("train --config {quick} --set 'optim.weights={pose: 1}'", "optim.weights: unknown keys"),
    ("train --config {quick} --set optim.adversarial=maybe", "expected true or false"),
    ("train --config {quick} --set trainer.precision=foo", "trainer.precision: expected"),
    ("train --config {quick} --set trainer.max_steps=0", "trainer.max_steps: expected"),
    ("train --config {quick} --set trainer.strategy=magic", "trainer.strategy: expected"),
    ("train --config {quick} --set model.init_from={in}/missing.ckpt", "model.init_from"),
    ("train --config {quick} --set model=3", "config model: expected a mapping"),
    ("train --config {quick} --set model.width=[", "--set model.width: not a YAML value"),
    ("train --config {quick} --accelerator gpu", "this machine has 0 usable CUDA GPU(s)"),
    ("train --config {quick} --accelerator tpu", "trainer.accelerator: expected one of"),
    ("train --config {quick} --devices 0", "trainer.devices: expected an integer ≥ 1"),
    ("train --config {quick} --set out={in}/file.txt", "config out: "),
    # serve (refused before gradio and the model load)
    ("serve --port 70000", "cannot serve on 127.0.0.1:70000"),
    ("serve --host host.invalid", "cannot serve on host.invalid:7860"),
    # demo
    ("demo --device cuda --out {out}/d", "--device cuda: this machine has no usable CUDA GPU"),
    ("demo --device cuda:1 --out {out}/d", "--device cuda:1: this machine has no usable CUDA"),
    ("demo --focal 0 --out {out}/d", "--focal: expected a number > 0, got 0"),
    ("demo --focal -100 --out {out}/d", "--focal: expected a number > 0, got -100"),
    ("demo --focal nan --out {out}/d", "--focal: expected a number > 0, got nan"),
    ("demo --batch-size 0 --out {out}/d", "--batch-size: expected an integer ≥ 1"),
    ("demo --out {in}/file.txt", "--out: expected a folder, but"),
    ("demo --formats stl --out {out}/d", "--formats: expected some of"),
    ("demo --refine-source movenet --out {out}/d", "--refine-source applies with --refine"),
    ("demo --bbox 1,2,3 --out {out}/d", "--bbox"),
    ("demo {in}/missing.jpg --out {out}/d", "no such file or folder"),
    ("demo {in}/file.txt --out {out}/d", "not an image OpenCV can read"),
    ("demo {in}/no_images --out {out}/d", "no images in the folder"),
    ("demo --checkpoint {in}/photo.jpg --out {out}/d", "found a JPEG image"),
    ("demo --keypoints {in}/missing.json --out {out}/d", "missing.json"),
    # batch (refused before Ray starts)
    ("batch {in}/photo.jpg", "the following arguments are required: --out"),
    ("batch {in}/missing.jpg --out {out}/b", "missing.jpg: no such file or folder"),
    ("batch {in}/no_images --out {out}/b", "no_images: no images or videos"),
    ("batch {in}/file.txt --out {out}/b", "line 1: expected an image or video path"),
    ("batch {in}/empty.npz --out {out}/b", "expected an image, a video, a folder or a .txt"),
    ("batch {in}/photo.jpg --out {in}/file.txt", "--out: expected a folder, but"),
    ("batch {in}/photo.jpg --out {out}/b --workers 0", "--workers: expected an integer ≥ 1"),
    ("batch {in}/photo.jpg --out {out}/b --threads 0", "--threads: expected an integer ≥ 1"),
    ("batch {in}/photo.jpg --out {out}/b --batch-size 0", "--batch-size: expected an integer"),
    ("batch {in}/photo.jpg --out {out}/b --device cuda", "this machine has no usable CUDA"),
    ("batch {in}/photo.jpg --out {out}/b --checkpoint {in}/photo.jpg", "found a JPEG image"),
    ("batch {in}/photo.jpg --out {out}/b --checkpoint {in}/nope.pt", "nope.pt"),
    # demo --track (issue 28)
    ("demo {in}/empty.mp4 --track --out {out}/d", "empty.mp4: not a video OpenCV can read"),
    ("demo {in}/corrupt.mp4 --track --out {out}/d", "corrupt.mp4: not a video OpenCV can read"),
    ("demo {in}/photo.jpg --track --out {out}/d", "--track: expected a video or a folder"),
    ("demo --track --fps 0 --out {out}/d", "--fps: expected a number > 0, got 0"),
    ("demo --track --fps nan --out {out}/d", "--fps: expected a number > 0, got nan"),
    ("demo {in}/no_images --track --out {out}/d", "no images in the folder"),
    ("demo {in}/photo.jpg --fbx --out {out}/d", "--fbx: expected --track too"),
    ("demo {in}/photo.jpg --look-closer 4 --out {out}/d", "--look-closer: expected --track"),
    ("demo --track --look-closer -1 --out {out}/d", "--look-closer: expected an integer ≥ 0"),
    ("demo --track --blender-python python3 --out {out}/d", "--blender-python: expected --fbx"),
    (
        "demo {in}/frames --track --fbx --blender-python {in}/missing --out {out}/d",
        "missing: expected a Python with bpy, cannot run it",
    ),
]


def _expand(line: str, inputs: Path, out: Path) -> list[str]:
    # placeholders filled after splitting: the inputs' folder name holds a space
    return [
        part.replace("{in}", str(inputs)).replace("{out}", str(out)).replace("{quick}", str(QUICK))
        for part in shlex.split(line)
    ]


def _write_inputs(root: Path) -> None:
    photo = cv2.imread(str(ASSETS / "astronaut.jpg"))
    cv2.imwrite(str(root / "photo.jpg"), cv2.resize(photo, (64, 64)))
    (root / "file.txt").write_text("some notes\n")
    (root / "empty.mp4").write_bytes(b"")
    (root / "corrupt.mp4").write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096)))
    (root / "empty.npz").write_bytes(b"")
    (root / "empty.pt").write_bytes(b"")
    (root / "text.safetensors").write_text("not tensors\n")
    (root / "binary.yaml").write_bytes(bytes(np.random.default_rng(0).integers(128, 256, 512)))
    (root / "list.yaml").write_text("- model\n- data\n")
    (root / "broken.yaml").write_text("model: [width\n")
    np.savez(root / "objects.npz", imgname=np.array([{"a": 1}], dtype=object))
    np.savez(root / "whole.npz", poses=np.zeros((4, 72)))
    data = (root / "whole.npz").read_bytes()
    (root / "truncated.npz").write_bytes(data[: len(data) // 2])
    torch.save({"weights": torch.zeros(2), "note": Path("x")}, root / "pickled.pt")
    for name, contents in (("lspet_empty", b""), ("lspet_text", b"joints = 1\n")):
        (root / name / "images").mkdir(parents=True)
        (root / name / "joints.mat").write_bytes(contents)
    (root / "lspet_other" / "images").mkdir(parents=True)
    scipy.io.savemat(root / "lspet_other" / "joints.mat", {"points": np.zeros((14, 3, 2))})
    (root / "no_images").mkdir()
    (root / "frames").mkdir()
    shutil.copy(root / "photo.jpg", root / "frames" / "0001.jpg")
    (root / "two_indexes").mkdir()
    for name in ("a.npz", "b.npz"):
        shutil.copy(root / "whole.npz", root / "two_indexes" / name)
    (root / "bvh").mkdir()
    for i in range(3):  # broken clips: each used to print its own error before the real one
        (root / "bvh" / f"clip{i}.bvh").write_text("HIERARCHY\nROOT x\n{\n")
    from openhmr.synth import SynthConfig, generate
    from openhmr.synth.scene import SceneConfig

    config = SynthConfig(out=str(root / "synth"), num=2, scene=SceneConfig(image_size=64))
    generate(config, progress=False)


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("bad inputs")  # a space: paths must stay one argument
    _write_inputs(root)
    return root, _tree(root)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return exit_.code


@pytest.mark.parametrize(("line", "expected"), TABLE, ids=[line for line, _ in TABLE])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    line, expected, inputs, tmp_path, monkeypatch, capfd, no_cuda
):
    root, before = inputs
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(tmp_path)  # default outputs (out/..., runs/...) would land here
    argv = _expand(line, root, out)
    code = _run(argv)
    captured = capfd.readouterr()
    prefix = f"openhmr {argv[0]}: error: " if argv and argv[0] in COMMANDS else "openhmr: error: "
    assert code == 2, captured.err
    assert len(captured.err.splitlines()) == 1, captured.err
    message = captured.err.strip()
    assert message.startswith(prefix) and expected in message, message
    assert "Traceback" not in captured.err and captured.out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "something was left behind"
    assert list(out.iterdir()) == [], "something was left at the output path"
    assert _tree(root) == before, "an input was changed"


def test_table_covers_every_command():
    tried = {line.split()[0] for line, _ in TABLE if line}
    assert set(COMMANDS) <= tried, f"commands without bad-input cases: {set(COMMANDS) - tried}"


def test_the_real_entry_point_prints_one_line(tmp_path):
    """Through `python -m openhmr`: nothing else reaches stderr (no library warnings)."""
    out = tmp_path / "b.obj"
    result = subprocess.run(
        [sys.executable, "-m", "openhmr", "body", "--betas", "nan", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "openhmr body: error: --betas: expected a number in [-10, 10], got nan"
    ]
    assert not out.exists()
