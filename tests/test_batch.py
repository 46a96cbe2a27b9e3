"""`openhmr batch`: inputs, the index that resuming trusts, results equal to `openhmr demo`
on the same images, a local Ray run, and (slow) a real two-node Ray cluster on this machine
with a worker killed mid-run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from openhmr.batch import Item, Store, list_inputs, read_results
from openhmr.batch.store import Result
from openhmr.batch.worker import Worker, WorkerConfig
from openhmr.cli import main
from openhmr.errors import OpenHMRError
from openhmr.inference.predictor import ASSETS

PHOTO = ASSETS / "astronaut.jpg"
COMPARED = ("pose", "betas", "camera", "translation", "bbox")


def varied_photos(folder: Path, count: int) -> list[Path]:
    """The bundled photo at several scales, mirrored, shifted on a wider canvas."""
    folder.mkdir(parents=True, exist_ok=True)
    image = cv2.imread(str(PHOTO))
    paths = []
    for index in range(count):
        scale = 0.5 + 0.5 * (index % 7) / 6
        varied = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if index % 2:
            varied = varied[:, ::-1]
        pad = 8 * (index % 5)
        varied = cv2.copyMakeBorder(varied, 0, 0, pad, 0, cv2.BORDER_CONSTANT, value=(40, 40, 40))
        paths.append(folder / f"photo_{index:04d}.jpg")
        cv2.imwrite(str(paths[-1]), varied)
    return paths


def write_video(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for index in range(frames):
        writer.write(np.full((48, 64, 3), 20 * index, np.uint8))
    writer.release()


def demo_records(
    paths: list[Path], out: Path, batch_size: int, precision: str = "auto"
) -> dict[str, dict]:
    """What `openhmr demo` writes for each image (its <name>.json), by name: run on one torch
    thread with the batch run's images per call, so that both sum in the same order (the
    network's results move by ~1e-4 between thread counts and batch sizes)."""
    import torch

    folder = out / "demo_in"
    folder.mkdir(parents=True)
    for path in paths:
        shutil.copy(path, folder / path.name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        command = ["demo", str(folder), "--out", str(out / "demo"), "--batch-size", str(batch_size)]
        command += ["--precision", precision]
        assert main(command) == 0
    finally:
        torch.set_num_threads(threads)
    return {p.stem: json.loads((out / "demo" / f"{p.stem}.json").read_text()) for p in paths}


def assert_same_people(batch_record: dict, arrays: dict, demo_record: dict) -> None:
    assert len(batch_record["people"]) == len(demo_record["people"]) == len(arrays["pose"])
    for row, (ours, theirs) in enumerate(
        zip(batch_record["people"], demo_record["people"], strict=True)
    ):
        for name in COMPARED:  # rtol: a float32 translation 19 m deep is 1e-5 from 12 ulps
            np.testing.assert_allclose(ours[name], theirs[name], atol=1e-5, rtol=1e-6)
        np.testing.assert_allclose(arrays["pose"][row], theirs["pose"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(arrays["betas"][row], theirs["betas"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(arrays["boxes"][row], theirs["bbox"], atol=1e-5, rtol=0)


# ---------------------------------------------------------------- inputs and the index


def test_inputs_folders_lists_and_video_frames(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "a" / "one.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "a" / "deep" / "two.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "a" / "notes.md").write_text("not an image")
    write_video(tmp_path / "clip.mp4", 5)
    (tmp_path / "list.txt").write_text("# photos\na/one.jpg\n\n" + f"{tmp_path}/clip.mp4\n")
    items = list_inputs([tmp_path / "a", tmp_path / "clip.mp4"])
    assert [i.key for i in items] == ["deep/two", "one"] + [f"clip/frame_{f:06d}" for f in range(5)]
    assert [i.frame for i in items] == [-1, -1, 0, 1, 2, 3, 4]
    # the list's relative paths are read against its folder; the video's frames counted
    listed = list_inputs([tmp_path / "list.txt"])
    assert listed[0] == Item("a/one", str(tmp_path / "list.txt").rsplit("/", 1)[0] + "/a/one.jpg")
    assert len(listed) == 6
    with pytest.raises(OpenHMRError, match="same output name"):
        list_inputs([tmp_path / "a", tmp_path / "a"])
    with pytest.raises(OpenHMRError, match="no such file or folder"):
        list_inputs([tmp_path / "missing"])
    with pytest.raises(OpenHMRError, match="expected an image, a video, a folder"):
        list_inputs([tmp_path / "a" / "notes.md"])


def test_index_trusts_only_matching_files(tmp_path):
    store = Store(tmp_path / "out")
    done = Result("x/photo", "p.jpg", -1, "done", 1, "", '{"people": []}', b"npz bytes")
    store.write(done)
    store.write(Result("bad", "bad.jpg", -1, "failed", 0, "unreadable", "", b""))
    reopened = Store(tmp_path / "out")
    assert reopened.is_done("x/photo") and not reopened.is_done("bad")
    assert reopened.is_settled("bad") and not reopened.is_settled("bad", retry_failed=True)
    assert not reopened.is_settled("never")
    json_path, npz_path = reopened.result_paths("x/photo")
    assert json_path.read_text() == '{"people": []}' and npz_path.read_bytes() == b"npz bytes"
    npz_path.write_bytes(b"npz bytez")  # changed behind the index's back: not done
    assert not Store(tmp_path / "out").is_done("x/photo")
    npz_path.unlink()
    assert not Store(tmp_path / "out").is_done("x/photo")
    # a line torn by a killed driver is ignored; the entries before it stand
    with open(tmp_path / "out" / "index.jsonl", "a") as index:
        index.write('{"key": "torn", "stat')
    assert set(Store(tmp_path / "out").entries) == {"x/photo", "bad"}
    # no temporary files left beside the results
    assert not [p for p in (tmp_path / "out").rglob(".*")]


def test_worker_equals_the_demo(tmp_path):
    paths = varied_photos(tmp_path / "photos", 3)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    items = [Item(p.stem, str(p)) for p in paths] + [Item("broken", str(tmp_path / "broken.jpg"))]
    import torch

    threads = torch.get_num_threads()
    try:
        results = Worker(WorkerConfig(threads=1))(items)  # sets the process's threads
    finally:
        torch.set_num_threads(threads)
    assert [r.key for r in results] == [i.key for i in items]
    assert results[-1].status == "failed" and "not an image" in results[-1].reason
    demo = demo_records(paths, tmp_path, batch_size=8)
    for result in results[:-1]:
        assert result.status == "done" and result.people >= 1
        store = Store(tmp_path / "batch")
        store.write(result)
        ((key, record, arrays),) = read_results(tmp_path / "batch")
        assert_same_people(record, arrays, demo[key])
        shutil.rmtree(tmp_path / "batch")


def test_views_reach_the_workers_and_a_network_that_cannot_read_them_fails_before_ray(tmp_path):
    """`batch --views`: each worker's network reads what was asked (default: the checkpoint's);
    views a network cannot read are one error from the check that runs before Ray."""
    import torch

    from openhmr.batch.run import _check_model
    from openhmr.model import HMR, save_checkpoint

    threads = torch.get_num_threads()
    try:
        asked = Worker(WorkerConfig(threads=1, views="flip-turns")).predictor.model.config
        default = Worker(WorkerConfig(threads=1)).predictor.model.config
    finally:
        torch.set_num_threads(threads)
    assert asked.views == "flip-turns" and default.views == "mirror-turns"
    _check_model(WorkerConfig(views="one"))
    resnet = HMR(backbone="resnet50", width=8, hidden=16, image_size=64)
    save_checkpoint(tmp_path / "resnet.safetensors", resnet)
    path = str(tmp_path / "resnet.safetensors")
    _check_model(WorkerConfig(checkpoint=path, body_model="open", views="one"))
    with pytest.raises(OpenHMRError, match="need a MoveNet encoder"):
        _check_model(WorkerConfig(checkpoint=path, body_model="open", views="mirror"))


# ---------------------------------------------------------------- Ray


def test_local_ray_run_resumes_and_records_failures(tmp_path, capsys):
    pytest.importorskip("ray")
    paths = varied_photos(tmp_path / "in", 4)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "in"), "--out", str(out), "--workers", "2"]
    # float32: bfloat16 kernels (where the CPU has them) need not sum a batch alike in a Ray
    # worker and in the demo, and the comparison below is at 1e-5
    args += ["--precision", "float32"]
    assert main([*args, "--batch-size", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("5 of 5 items run (0 already done), 1 failed, 4 people")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["done"], summary["failed"], summary["workers"]) == (4, 1, 2)
    index = [json.loads(x) for x in (out / "index.jsonl").read_text().splitlines()]
    assert sorted(e["key"] for e in index) == ["broken", *(p.stem for p in paths)]
    assert next(e for e in index if e["key"] == "broken")["reason"].endswith(
        "not an image OpenCV can read (expected JPEG, PNG, ...)"
    )
    results = {key: (record, arrays) for key, record, arrays in read_results(out)}
    demo = demo_records(paths, tmp_path, batch_size=2, precision="float32")
    for key, (record, arrays) in results.items():
        assert_same_people(record, arrays, demo[key])
    # a second run has nothing to do: no Ray, nothing rewritten
    before = {p: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    assert main(args) == 0
    assert "0 of 5 items run (5 already done)" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == before
    assert len((out / "index.jsonl").read_text().splitlines()) == 5


def test_batch_without_ray_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    varied_photos(tmp_path / "in", 1)
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "openhmr batch: error: openhmr batch needs Ray: pip install 'openhmr[ray]' (or 'ray[data]')"
    ]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- a two-node cluster (slow)


def _ray_start(*args: str, env: dict) -> None:
    ray = Path(sys.executable).parent / "ray"
    subprocess.run([str(ray), "start", *args], check=True, env=env, capture_output=True)


@pytest.fixture
def two_node_cluster(tmp_path):
    """`ray start --head` on 127.0.0.1 and a second node joining it, each with its own temp
    dir and 1 CPU; stopped after."""
    pytest.importorskip("ray")
    port = 6400 + os.getpid() % 500
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RAY_USAGE_STATS_ENABLED": "0"}
    env["RAY_AUTH_MODE"] = "disabled"  # a local test cluster; a token file may exist in ~/.ray
    head, node = Path(f"/tmp/ray_h{os.getpid()}"), Path(f"/tmp/ray_n{os.getpid()}")
    address = f"127.0.0.1:{port}"
    try:
        _ray_start(
            "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
            "--include-dashboard=false", f"--temp-dir={head}", env=env,
        )  # fmt: skip
        _ray_start(
            f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
            f"--temp-dir={node}", env=env,
        )  # fmt: skip
        yield address, env
    finally:
        ray = Path(sys.executable).parent / "ray"
        subprocess.run([str(ray), "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(head, ignore_errors=True)
        shutil.rmtree(node, ignore_errors=True)


def _worker_pids() -> list[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if "MapBatches(_Actor)" in line]


@pytest.mark.slow
def test_two_node_cluster_with_a_worker_killed(tmp_path, two_node_cluster):
    address, env = two_node_cluster
    paths = varied_photos(tmp_path / "in", 200)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "openhmr", "batch", str(tmp_path / "in"), "--out", str(out)]
    run = subprocess.Popen(
        [*command, "--address", address, "--workers", "2", "--batch-size", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        index = out / "index.jsonl"
        while not (index.is_file() and len(index.read_text().splitlines()) >= 40):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.5)
        pids = _worker_pids()
        assert len(pids) == 2, pids  # one actor on each node
        os.kill(pids[0], signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert "200 of 200 items run" in stdout
    keys = [json.loads(x)["key"] for x in index.read_text().splitlines()]
    assert sorted(keys) == sorted(p.stem for p in paths)  # each exactly once
    results = {key: (record, arrays) for key, record, arrays in read_results(out)}  # hashes
    assert len(results) == 200
    demo = demo_records(paths, tmp_path, batch_size=4)  # every image, the retried batch too
    for key, record in demo.items():
        assert_same_people(*results[key], record)


def test_the_model_is_checked_once_before_ray(tmp_path):
    from openhmr.batch.run import _check_model

    _check_model(WorkerConfig())  # "default": the bundled model
    (tmp_path / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(OpenHMRError, match=r"model\.safetensors"):
        _check_model(WorkerConfig(checkpoint=str(tmp_path / "model.safetensors")))
