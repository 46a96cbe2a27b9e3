"""BlazePose GHUM as the fit's source (`openhmr.fit.sources.blazepose_source`, the default of
``refine=True``): its evidence on a real photo, the fallbacks when a crop holds no person, the
predictor and `openhmr eval --refine` carrying world landmarks and masks into the fit, and the
synthetic case where the landmarks are exact (the fit must then reach them)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from openhmr import Predictor
from openhmr.cli import main
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from openhmr.evaluate.refine import index_evidence, save_evidence
from openhmr.fit import FitGuides, PoseEvidence
from openhmr.fit.sources import blazepose_source, keypoint_source
from openhmr.inference.command import EXAMPLE_BOX, EXAMPLE_IMAGE
from openhmr.inference.predictor import load_image
from openhmr.synth import SynthConfig, generate
from tests.test_evaluate_protocols import oracle

BOX = np.array([EXAMPLE_BOX])


@pytest.fixture(scope="module")
def photo():
    return load_image(EXAMPLE_IMAGE)


@pytest.fixture(scope="module")
def source():
    return blazepose_source("full")


def test_the_source_reads_a_real_photo(photo, source):
    evidence = source(photo, BOX)
    assert isinstance(evidence, PoseEvidence) and len(evidence) == 1
    assert evidence.keypoints.shape == (1, 17, 3) and evidence.world.shape == (1, 17, 3)
    # her face and shoulders are in the photo: seen, with the shoulders ~0.3-0.5 m apart
    assert (evidence.world_weights[0, :7] > 0.5).all()
    shoulders = np.linalg.norm(evidence.world[0, 5] - evidence.world[0, 6])
    assert 0.25 < shoulders < 0.55
    # world landmarks in the camera's axes: her head is above (y smaller than) her shoulders
    assert evidence.world[0, 0, 1] < evidence.world[0, 5:7, 1].min()
    mask = evidence.masks[0]
    assert mask.shape == photo.shape[:2] and 0.2 < (mask > 0.5).mean() < 0.9
    # the mask covers her face (the nose keypoint) and not the top-left flag corner
    x, y = evidence.keypoints[0, 0, :2].astype(int)
    assert mask[y, x] > 0.5 and mask[:40, :40].max() < 0.5


def test_a_crop_without_a_person_adds_nothing_and_the_fit_stays_finite(source):
    blank = np.full((256, 256, 3), 127, np.uint8)
    evidence = source(blank, np.array([[50.0, 50.0, 120.0, 150.0]]))
    assert float(evidence.world_weights.max()) == 0.0
    assert float(evidence.masks[0].max()) == 0.0
    predictor = Predictor.from_checkpoint("default", refine=True, keypoint_source=source)
    person = predictor(blank, boxes=np.array([[50.0, 50.0, 120.0, 150.0]]))[0]
    assert np.isfinite(person.vertices).all()


def test_the_predictor_fits_with_the_landmarks(photo, source):
    guided = Predictor.from_checkpoint("default", refine=True, keypoint_source=source)
    flat = Predictor.from_checkpoint("default", refine=True, keypoint_source=keypoint_source(
        "movenet"))  # fmt: skip
    a, b = guided(photo, boxes=BOX)[0], flat(photo, boxes=BOX)[0]
    assert a.fit.refined and b.fit.refined
    assert a.fit.error_px < 15  # the 2D fit still holds (of a 430 px person)
    # the landmarks changed the body (3D), not only the camera
    assert np.abs(a.pose - b.pose).max() > 0.05


def test_unknown_source_names_are_clear_errors():
    with pytest.raises(OpenHMRError, match="keypoint source"):
        keypoint_source("openpose")
    with pytest.raises(OpenHMRError, match="variant"):
        blazepose_source("lite")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_world")
    return generate(SynthConfig(out=str(out), num=3, seed=5), progress=False)


def test_eval_refine_reads_world_landmarks_from_a_file(split, tmp_path):
    """Exact world landmarks (the truth's COCO-17 points, metres) and exact 2D keypoints: the
    refined 3D error must fall well below the prediction's."""
    from openhmr import HMR, load_body_model, save_checkpoint
    from openhmr.fit import body_matrix

    index = load_index(split)
    truth = oracle(index)
    body = load_body_model("open")
    with torch.no_grad():
        keypoints3d = body(
            pose=torch.as_tensor(truth.pose, dtype=torch.float32),
            betas=torch.as_tensor(truth.betas, dtype=torch.float32),
        ).keypoints
    world = np.einsum("kj,bjc->bkc", body_matrix("coco17", "namesake"), keypoints3d.numpy())
    keypoints = np.asarray(index.keypoints2d[:, :19], np.float64)
    file = tmp_path / "evidence.npz"
    save_evidence(file, keypoints, FitGuides(world, np.ones((3, 17))))
    found, guides = index_evidence(index, str(file))
    np.testing.assert_array_equal(found, keypoints)
    np.testing.assert_allclose(guides.world, world)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(
        tmp_path / "tiny.safetensors", HMR(body_model=body, width=8, hidden=32)
    )
    flat = tmp_path / "flat.npz"
    save_evidence(flat, keypoints, None)
    reports = {}
    fit = ["--fit", "iterations=150", "--fit", "world_weight=3"]
    for name, extra in (("plain", []), ("flat", ["--refine", str(flat), *fit]),
                        ("refined", ["--refine", str(file), *fit])):  # fmt: skip
        out = tmp_path / f"{name}.json"
        argv = ["eval", "--checkpoint", str(checkpoint), "--protocol", "synthetic"]
        code = main([*argv, "--data", str(split), "--out", str(out), "--workers", "0", *extra])
        assert code == 0
        reports[name] = json.loads(out.read_text())
    refine = reports["refined"]["settings"]["refine"]
    assert refine["world_landmarks"] is True and refine["mask"] is False
    plain, flat, refined = (reports[k]["metrics"]["pa_mpjpe"] for k in ("plain", "flat", "refined"))
    assert refined < 0.5 * flat < 0.5 * plain


def test_malformed_evidence_files_are_one_error(split, tmp_path):
    index = load_index(split)
    file = tmp_path / "bad.npz"
    np.savez(file, keypoints=np.ones((3, 17, 3)), world=np.ones((3, 14, 3)),
             world_weights=np.ones((3, 14)))  # fmt: skip
    with pytest.raises(OpenHMRError, match="world"):
        index_evidence(index, str(file))


def test_sources_by_name_in_the_evaluation(split):
    """`--refine movenet` is Thunder's keypoints alone; `--refine blazepose-full` adds the
    landmarks and masks, in each row's evaluation crop."""
    index = load_index(split)
    plain, none = index_evidence(index, "movenet")
    found, guides = index_evidence(index, "blazepose-full")
    assert plain.shape == found.shape == (3, 17, 3) and none is None
    assert guides.world.shape == (3, 17, 3) and guides.mask.shape == (3, 64, 64)
    # the rendered bodies' own joints (the index's truth, mapped into the crops) lie on the mask
    from openhmr.evaluate.predict import image_to_crop

    joints = image_to_crop(index.keypoints2d[:, :14, :2], index.center, index.scale)
    cells = np.clip(((joints + 1) / 2 * 64).astype(int), 0, 63)
    rows = np.arange(3)[:, None]
    on = guides.mask[rows, cells[..., 1], cells[..., 0]] > 0.5
    assert on.mean() > 0.8


def test_averaged_keypoints_weigh_the_two_readings_agreement():
    """`choose_keypoints("average", ...)` with person boxes: the confidence-weighted average of the
    two readings, its confidence the larger one times exp(-(d / (scale * size))^2), checked
    keypoint by keypoint against a plain loop; a reading without confidence leaves the
    weight alone, and no boxes (or scale 0) is the plain average.  The size is each box's
    longer side."""
    from openhmr.fit.sources import CONSISTENCY_SCALE, average_keypoints, choose_keypoints

    rng = np.random.default_rng(3)
    found = np.concatenate([rng.uniform(0, 300, (3, 17, 2)), rng.uniform(0.1, 1, (3, 17, 1))], -1)
    theirs = found.copy()
    theirs[..., :2] += rng.normal(0, 25, (3, 17, 2))
    theirs[..., 2] = rng.uniform(0.1, 1, (3, 17))
    theirs[1, 4, 2] = 0.0  # BlazePose did not see this one
    found[2, 7, 2] = 0.0  # nor Thunder this one
    person = np.array([True, True, True])
    boxes = np.array([[0.0, 0.0, 200.0, 150.0], [5.0, 5.0, 80.0, 120.0], [0.0, 9.0, 400.0, 400.0]])
    sizes = np.array([200.0, 120.0, 400.0])  # their longer sides
    got = choose_keypoints("average", found, theirs, person, boxes, CONSISTENCY_SCALE)
    plain = average_keypoints(found, theirs)
    for n in range(3):
        for k in range(17):
            a, b = found[n, k], theirs[n, k]
            weight = 1.0
            if a[2] > 0 and b[2] > 0:
                d = math.dist(a[:2], b[:2])
                weight = math.exp(-((d / (CONSISTENCY_SCALE * sizes[n])) ** 2))
            np.testing.assert_allclose(got[n, k, :2], plain[n, k, :2])
            assert got[n, k, 2] == pytest.approx(max(a[2], b[2]) * weight)
    assert got[1, 4, 2] == pytest.approx(found[1, 4, 2])
    np.testing.assert_allclose(choose_keypoints("average", found, theirs, person), plain)
    np.testing.assert_allclose(
        choose_keypoints("average", found, theirs, person, boxes, 0.0), plain
    )
    # a reading far off (a whole box away) is all but dropped, one on top keeps its weight
    theirs[0, 0, :2] = found[0, 0, :2] + sizes[0]
    theirs[0, 1, :2] = found[0, 1, :2]
    got = choose_keypoints("average", found, theirs, person, boxes)
    assert got[0, 0, 2] < 1e-10 and got[0, 1, 2] == pytest.approx(
        max(found[0, 1, 2], theirs[0, 1, 2])
    )
