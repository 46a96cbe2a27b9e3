"""2D keypoint and detection measurements (openhmr.evaluate.keypoints2d) on hand-made cases,
and the issue's acceptance numbers on held-out LSP-extended when ../shared/data is present."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from openhmr.evaluate.keypoints2d import (
    COCO_FOR_LSP_LIMBS,
    box_iou_matrix,
    detection_hits,
    limb_pck,
    lsp_person_boxes,
    mean_layout,
    square_boxes,
)

LSPET = Path(__file__).resolve().parents[2] / "shared" / "data" / "lspet"
HELD_OUT = range(7200, 8000)  # im07201 ... im08000


def _person(offset=(0.0, 0.0), scale=1.0) -> np.ndarray:
    """An upright LSP-14 stick person 100 px tall (x, y, visible)."""
    xy = np.array([[40, 100], [40, 70], [40, 45], [60, 45], [60, 70], [60, 100],  # legs
                   [30, 45], [30, 30], [40, 15], [60, 15], [70, 30], [70, 45],  # arms
                   [50, 10], [50, 0]], dtype=np.float64)  # fmt: skip
    return np.concatenate([xy * scale + offset, np.ones((14, 1))], axis=1)


def test_person_box_is_the_square_of_the_visible_extent():
    person = _person(offset=(10, 20))
    person[0, 2] = 0  # an invisible joint far away does not count
    person[0, :2] = (1000, 1000)
    box = lsp_person_boxes(person[None])[0]
    # visible extent: x 30..70 (+10), y 0..100 (+20): centre (60, 70), side 1.2 * 100
    assert np.allclose(box, [60 - 60, 70 - 60, 120, 120])
    with pytest.raises(Exception, match="two visible joints"):
        lsp_person_boxes(np.zeros((1, 14, 3)))


def test_limb_pck_counts_within_a_fifth_of_the_torso():
    truth = _person()[None]
    torso = np.linalg.norm(truth[0, 8, :2] - truth[0, 3, :2])  # R shoulder - L hip
    coco = np.zeros((1, 17, 2))
    coco[0, list(COCO_FOR_LSP_LIMBS)] = truth[0, :12, :2]
    assert limb_pck(coco, truth).value == 1.0
    moved = coco.copy()
    moved[0, COCO_FOR_LSP_LIMBS[:3], 0] += 0.19 * torso  # still inside
    moved[0, COCO_FOR_LSP_LIMBS[3:6], 0] += 0.21 * torso  # outside
    assert limb_pck(moved, truth).value == pytest.approx(9 / 12)
    # LSP-ordered predictions are read directly
    assert limb_pck(truth[:, :14, :2], truth).value == 1.0


def test_mean_layout_reproduces_a_fixed_layout():
    train = np.stack([_person((5 * i, 3 * i), 1 + 0.1 * i) for i in range(5)])
    test = _person((200, 50), 2.0)[None]
    placed = mean_layout(train, lsp_person_boxes(test))
    assert np.allclose(placed, test[..., :2])


def test_detection_hits_square_the_detections():
    truth = np.array([[0.0, 0.0, 120.0, 120.0]])
    tall = np.array([[40.0, 0.0, 40.0, 120.0]])  # the person's tight box inside the square
    assert box_iou_matrix(tall, truth)[0, 0] == pytest.approx(1 / 3)
    assert np.allclose(square_boxes(tall), truth)
    assert detection_hits([tall], truth).tolist() == [True]
    assert detection_hits([np.zeros((0, 4))], truth).tolist() == [False]
    far = np.array([[500.0, 500.0, 40.0, 120.0]])
    assert detection_hits([np.concatenate([far, tall])], truth).tolist() == [True]
    assert detection_hits([far], truth).tolist() == [False]


def _held_out(step: int):
    from openhmr.data.converters.lsp import read_joints_mat

    keypoints = read_joints_mat(LSPET / "joints.mat")
    rows = [i for i in HELD_OUT[::step] if (LSPET / "images" / f"im{i + 1:05d}.jpg").is_file()]
    paths = [LSPET / "images" / f"im{i + 1:05d}.jpg" for i in rows]
    return paths, keypoints[rows]


needs_lspet = pytest.mark.skipif(
    not (LSPET / "images" / "im08000.jpg").is_file(), reason="needs ../shared/data/lspet (8,000)"
)


@needs_lspet
def test_thunder_reaches_the_acceptance_pck_on_held_out_lsp():
    """Issue acceptance: PCK@0.2 ≥ 0.60 on im07201–im08000 (every second image here; the
    benchmark runs all 800: benchmarks/posenet_lsp.py)."""
    from openhmr import MoveNet
    from openhmr.inference.predictor import load_image

    paths, truth = _held_out(step=2)
    boxes = lsp_person_boxes(truth)
    net = MoveNet.pretrained("thunder")
    pred = np.stack(
        [net.keypoints(load_image(p), b[None])[0] for p, b in zip(paths, boxes, strict=True)]
    )
    assert limb_pck(pred, truth).value >= 0.60


@needs_lspet
def test_default_detector_finds_the_person():
    """Issue acceptance: the default detector's box has IoU ≥ 0.5 with the ground truth in
    ≥ 85% of im07201–im08000 (every second image here)."""
    from openhmr.inference.detect import MoveNetPersonDetector
    from openhmr.inference.predictor import load_image

    paths, truth = _held_out(step=2)
    detector = MoveNetPersonDetector()
    found = [detector(load_image(p)).boxes for p in paths]
    assert detection_hits(found, lsp_person_boxes(truth)).mean() >= 0.85


@needs_lspet
def test_demo_writes_overlays_for_a_folder_of_lsp_photos(tmp_path):
    """Issue acceptance: the demo, on 30 held-out photos without boxes, writes ≥ 27 overlays
    (the photos are copied to a temporary folder, never into the repository)."""
    from openhmr.cli import main

    paths, _ = _held_out(step=26)
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in paths[:30]:
        shutil.copy(path, folder / path.name)
    out = tmp_path / "out"
    main(["demo", str(folder), "--out", str(out)])
    overlays = list(out.glob("*_overlay.png"))
    assert len(paths[:30]) == 30 and len(overlays) >= 27
