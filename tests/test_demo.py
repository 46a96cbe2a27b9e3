"""`openhmr demo` end to end (a small random-weight network: the plumbing, not the accuracy):
the bundled photo, folders with a failing image, video, OpenPose boxes, bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from openhmr import HMR, load_body_model, save_checkpoint
from openhmr.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    model = HMR(width=8, hidden=32, body_model=load_body_model("open"))
    save_checkpoint(path, model)
    return str(path)


def photo(path, size=(96, 128)):
    rng = np.random.default_rng(len(str(path)))
    image = (rng.random((*size, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(path), image)
    return path


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_bundled_photo_end_to_end(tmp_path, checkpoint):
    out = tmp_path / "out"
    assert (
        main(["demo", "--checkpoint", checkpoint, "--out", str(out), "--formats", "obj,glb"]) == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "astronaut.json",
        "astronaut_0.glb",
        "astronaut_0.obj",
        "astronaut_overlay.png",
        "astronaut_side.png",
    ]
    overlay = cv2.imread(str(out / "astronaut_overlay.png"))
    assert overlay.shape == (512, 512, 3)
    record = json.loads((out / "astronaut.json").read_text())
    person = record["people"][0]
    assert (record["width"], record["height"]) == (512, 512)
    assert np.array(person["pose"]).shape == (24, 3) and np.array(person["betas"]).shape == (10,)
    assert np.array(person["keypoints2d"]).shape == (19, 3)
    # found by the default detector: the box drawn by hand around her is [40, 10, 340, 500]
    from openhmr.inference.detect import box_iou

    by_hand = np.array([40.0, 10.0, 340.0, 500.0])
    assert box_iou(by_hand, np.array([person["bbox"]]))[0] > 0.7
    detected = np.array(person["detected_keypoints"])
    assert detected.shape == (17, 3) and 0 < person["detection_score"] <= 1
    nose, left_eye, right_eye = detected[:3, :2]
    assert right_eye[0] < nose[0] < left_eye[0]  # she faces the camera: her left is image right
    assert record["detected_keypoint_order"].startswith("coco-17")
    assert record["camera"]["focal_length"] == pytest.approx(5000 * 512 / 224)


def test_missing_default_model_is_one_line(capsys, monkeypatch, tmp_path):
    import openhmr.inference.predictor as predictor_module

    monkeypatch.setattr(predictor_module, "DEFAULT_MODEL", tmp_path / "gone.safetensors")
    assert main(["demo"]) == 2
    assert "bundled default model is missing" in one_error_line(capsys)


def test_folder_reports_failures_and_goes_on(tmp_path, checkpoint, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    photo(folder / "a.png")
    photo(folder / "b.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    args = ["demo", str(folder), "--checkpoint", checkpoint, "--bbox", "10,10,60,100"]
    assert main([*args, "--out", str(out), "--batch-size", "2", "--formats", "ply"]) == 0
    captured = capsys.readouterr()
    assert "broken: " in captured.err and "not an image" in captured.err
    assert "2 images, 2 people, 1 failed" in captured.out
    assert {p.name for p in out.iterdir()} >= {"a_overlay.png", "b_0.ply", "b.json", "a_side.png"}
    assert not any(p.name.startswith("broken") for p in out.iterdir())


def test_video_in_video_out(tmp_path, checkpoint, capsys):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    for value in (40, 120, 200):
        writer.write(np.full((64, 96, 3), value, np.uint8))
    writer.release()
    out = tmp_path / "out"
    args = ["demo", str(video), "--checkpoint", checkpoint, "--bbox", "20,5,40,55"]
    assert main([*args, "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith("3 frames, 3 people;") and "frames/s" in summary, summary
    assert "images" not in summary
    capture = cv2.VideoCapture(str(out / "clip_overlay.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 3
    params = np.load(out / "clip_params.npz")
    np.testing.assert_array_equal(params["frame"], [0, 1, 2])
    assert params["pose"].shape == (3, 24, 3) and params["keypoints2d"].shape == (3, 19, 3)
    assert sorted(p.name for p in out.iterdir()) == ["clip_overlay.mp4", "clip_params.npz"]


def test_openpose_keypoints_give_the_box(tmp_path, checkpoint):
    image = photo(tmp_path / "p.png", (120, 160))
    keypoints = [0.0] * 75
    keypoints[3:6] = [60.0, 20.0, 0.9]  # neck
    keypoints[33:36] = [90.0, 100.0, 0.8]  # right ankle (BODY_25 index 11)
    path = tmp_path / "p_keypoints.json"
    path.write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": keypoints}]}))
    out = tmp_path / "out"
    assert main(["demo", str(image), "--checkpoint", checkpoint, "--keypoints", str(path),
                 "--out", str(out)]) == 0  # fmt: skip
    bbox = json.loads((out / "p.json").read_text())["people"][0]["bbox"]
    side = np.hypot(30, 80)
    np.testing.assert_allclose(bbox, [75 - side / 2, 60 - side / 2, side, side])


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda d: (d / "x.jpg").write_text("text"), [], "not an image"),
        (lambda d: (d / "x.mp4").write_bytes(b"\x00" * 100), [], "not a video"),
        (lambda d: (d / "x").mkdir(), [], "no images in the folder"),
        (lambda d: photo(d / "x.png"), ["--bbox", "500,500,20,20"], "outside"),
        (lambda d: photo(d / "x.png"), [], "no person found"),
        (lambda d: photo(d / "x.png"), ["--bbox", "1,2,3"], "--bbox"),
        (lambda d: photo(d / "x.png"), ["--formats", "stl"], "--formats"),
        (lambda d: photo(d / "x.png"), ["--orientations", "4"], "one way up"),  # a ResNet
        (lambda d: photo(d / "x.png"), ["--orientations", "3"], "--orientations"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, checkpoint, capsys, make, extra, message):
    make(tmp_path)
    target = next(p for p in tmp_path.iterdir() if p.name.startswith("x"))
    out = tmp_path / "out"
    code = main(["demo", str(target), "--checkpoint", checkpoint, "--out", str(out), *extra])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith("openhmr demo: error:") and message in line
    assert not out.exists() or not any(out.iterdir())  # no empty outputs


def test_cli_process_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "openhmr", "demo", str(tmp_path / "missing.jpg"),
         "--checkpoint", "x.safetensors"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr


def test_counts_read_as_english():
    from openhmr.inference.command import counted

    assert counted(1, "people") == "1 person" and counted(2, "people") == "2 people"
    assert counted(1, "images") == "1 image" and counted(0, "images") == "0 images"
    assert counted(1, "frames") == "1 frame" and counted(1, "tracks") == "1 track"
