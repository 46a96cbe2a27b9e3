"""MediaPipe's pose ROI and the crop warps (posenet/pose_roi.py) against OpenCV and analytic
cases, and BlazePose.landmarks end to end on the bundled photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from openhmr import BlazePose, OpenHMRError
from openhmr.posenet.pose_roi import (
    PoseROI,
    crop_points_to_image,
    image_to_crop,
    paste_masks,
    roi_from_alignment,
    roi_from_boxes,
    roi_from_keypoints,
    warp_crops,
)

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "openhmr" / "inference" / "assets" / "astronaut.jpg"
# MoveNet Thunder's COCO keypoints on the photo (its whole frame as the box), rounded
PHOTO_KEYPOINTS = np.array([
    [224.06, 122.68, 0.59], [246.76, 102.23, 0.62], [204.4, 101.36, 0.84], [273.84, 117.63, 0.75],
    [175.59, 111.98, 0.63], [317.98, 273.75, 0.82], [104.91, 266.63, 0.69], [327.21, 404.01, 0.22],
    [64.93, 421.33, 0.58], [273.42, 490.99, 0.16], [141.78, 492.27, 0.47], [264.89, 505.53, 0.3],
    [158.08, 506.68, 0.32], [273.4, 438.64, 0.0], [119.2, 480.63, 0.01], [223.05, 518.95, 0.01],
    [162.19, 516.83, 0.01]])[None]  # fmt: skip


def _rotated_roi(angle: float, centre=(70.0, 90.0), side=150.0) -> PoseROI:
    up = np.array([[np.sin(angle), -np.cos(angle)]])  # angle 0: up; turning clockwise on screen
    return PoseROI(np.array([centre]), np.array([side]), up, np.array([True]))


def test_alignment_rule_is_mediapipes():
    roi = roi_from_alignment(np.array([[100.0, 100.0]]), np.array([[100.0, 20.0]]))
    np.testing.assert_allclose(roi.side, [200.0])  # 2 x 1.25 x 80
    np.testing.assert_allclose(roi.up, [[0.0, -1.0]])
    roi = roi_from_alignment(np.array([[0.0, 0.0]]), np.array([[30.0, 40.0]]))
    np.testing.assert_allclose(roi.side, [125.0])
    np.testing.assert_allclose(roi.up, [[0.6, 0.8]])
    box = roi_from_boxes(np.array([[10.0, 20.0, 40.0, 100.0]]))
    np.testing.assert_allclose(box.centre, [[30.0, 70.0]])
    np.testing.assert_allclose(box.side, [125.0])


def test_crop_affine_analytic():
    upright = _rotated_roi(0.0, centre=(100.0, 200.0), side=256.0).crop_to_image(256)
    points = np.array([[[128.0, 128.0], [0.0, 0.0], [256.0, 128.0]]])
    np.testing.assert_allclose(crop_points_to_image(points, upright),
                               [[[100, 200], [-28, 72], [228, 200]]])  # fmt: skip
    # up = image right: the crop's right is the image's down, its top the image's right
    turned = _rotated_roi(np.pi / 2, centre=(100.0, 200.0), side=256.0).crop_to_image(256)
    np.testing.assert_allclose(
        crop_points_to_image(np.array([[[256.0, 128.0], [128.0, 0.0]]]), turned),
        [[[100, 328], [228, 200]]], atol=1e-9,
    )  # fmt: skip
    back = image_to_crop(turned)
    image_points = crop_points_to_image(points, turned)
    np.testing.assert_allclose(crop_points_to_image(image_points, back), points, atol=1e-9)


@pytest.mark.parametrize("angle", [0.0, 0.4, -2.0])
def test_warp_matches_cv2_warp_affine(angle):
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (120, 160, 3)).astype(np.float32), (0, 0), 3)
    affine = _rotated_roi(angle).crop_to_image(64)
    ours = warp_crops(torch.from_numpy(image).permute(2, 0, 1).double(), affine, 64)[0]
    # OpenCV maps destination pixel indices to source indices (pixel centres at integers)
    linear, offset = affine[0, :, :2], affine[0, :, 2]
    matrix = np.concatenate([linear, (linear @ [0.5, 0.5] + offset - 0.5)[:, None]], axis=1)
    expected = cv2.warpAffine(image, matrix, (64, 64), flags=cv2.INTER_LINEAR |
                              cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
    # OpenCV quantises sample positions to 1/32 pixel: compare away from the image border
    inside = ours.permute(1, 2, 0).numpy()
    mask = cv2.warpAffine(np.ones((120, 160), np.float32), matrix, (64, 64),
                          flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)  # fmt: skip
    mask = cv2.erode(mask, np.ones((3, 3))) > 0
    assert mask.mean() > 0.3
    assert np.abs(inside - expected)[mask].max() < 0.5


def test_a_dot_warped_and_mapped_back_lands_where_it_was():
    image = np.zeros((200, 300), np.float64)
    dot = (181.0, 77.0)  # x, y
    image[int(dot[1]), int(dot[0])] = 1.0  # the pixel whose centre is dot + 0.5
    affine = _rotated_roi(2.5, centre=(170.0, 100.0), side=64.0).crop_to_image(64)
    crop = warp_crops(torch.from_numpy(image)[None].expand(3, -1, -1), affine, 64)[0, 0]
    weights = crop.numpy()
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    found = np.array([[[(weights * xs).sum(), (weights * ys).sum()]]]) / weights.sum()
    np.testing.assert_allclose(
        crop_points_to_image(found, affine)[0, 0], np.add(dot, 0.5), atol=0.15
    )  # fmt: skip  (a half-pixel slip: 0.5)


def test_paste_inverts_the_crop_inside_it():
    rng = np.random.default_rng(1)
    field = cv2.GaussianBlur(rng.uniform(0, 1, (90, 110)).astype(np.float32), (0, 0), 4)
    affine = _rotated_roi(0.7, centre=(55.0, 45.0), side=60.0).crop_to_image(128)
    crop = warp_crops(torch.from_numpy(field)[None].expand(3, -1, -1).double(), affine, 128)
    pasted = paste_masks(crop[:, 0], affine, 90, 110)[0].numpy()
    inside = pasted != 0
    assert 0.1 < inside.mean() < 0.5
    assert (
        np.abs(pasted - field)[cv2.erode(inside.astype(np.uint8), np.ones((5, 5))) > 0].max() < 0.01
    )


def _coco_person(shift=(0.0, 0.0)) -> np.ndarray:
    points = np.zeros((17, 3))
    points[:, 2] = 0.9
    points[:, :2] = 100.0
    points[[5, 6], :2] = [[90.0, 60.0], [110.0, 60.0]]  # shoulders
    points[[11, 12], :2] = [[94.0, 120.0], [106.0, 120.0]]  # hips
    points[0, :2] = [100.0, 30.0]  # nose, the farthest: 90 px from the hips
    points[[15, 16], :2] = [[95.0, 190.0], [105.0, 190.0]]
    points[:, :2] += shift
    return points


def test_roi_from_keypoints_and_its_fallback():
    box = np.array([[50.0, 20.0, 100.0, 200.0]])
    roi = roi_from_keypoints(_coco_person()[None], box, reach=1.0)
    np.testing.assert_allclose(roi.centre, [[100.0, 120.0]])
    np.testing.assert_allclose(roi.up, [[0.0, -1.0]])
    np.testing.assert_allclose(roi.side, [2.5 * 90.0])
    weak = _coco_person()
    weak[11, 2] = 0.05
    fallback = roi_from_keypoints(weak[None], box)
    assert not fallback.from_keypoints[0]
    np.testing.assert_allclose(fallback.side, [250.0])
    with pytest.raises(OpenHMRError, match=r"expected \(N, 17, 3\)"):
        roi_from_keypoints(np.zeros((1, 13, 3)), box)
    with pytest.raises(OpenHMRError, match="2 people for 1 boxes"):
        roi_from_keypoints(np.zeros((2, 17, 3)), box)


@pytest.fixture(scope="module")
def photo_and_net():
    torch.set_num_threads(2)
    image = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    return image, BlazePose.pretrained("full")


def test_landmarks_on_the_photo_follow_it_turned(photo_and_net):
    """The photo and the photo turned a quarter: the crop turns with the person, so the
    landmarks come back turned the same way (a check of the rotated crop and its inverse)."""
    image, net = photo_and_net
    h, w = image.shape[:2]
    found = net.landmarks(image, np.array([[0.0, 0.0, w, h]]), keypoints=PHOTO_KEYPOINTS)
    assert found.landmarks.shape == (1, 39, 3) and found.world.shape == (1, 39, 3)
    assert found.mask.shape == (1, h, w) and found.mask.dtype == np.float32
    assert found.pose_flag[0] > 0.9 and 0.2 < (found.mask[0] > 0.5).mean() < 0.7
    nose, movenet_nose = found.landmarks[0, 0, :2], found.keypoints[0, 0, :2]
    assert np.linalg.norm(nose - movenet_nose) < 10
    # COCO order from MediaPipe's: the face points near MoveNet's, left and right not swapped
    # (the shoulders of the bulky suit sit 35-50 px higher in BlazePose than in MoveNet)
    coco = found.coco17()
    assert coco.shape == (1, 17, 3)
    assert np.linalg.norm(coco[0, :5, :2] - PHOTO_KEYPOINTS[0, :5, :2], axis=1).max() < 12
    for left in (1, 3, 5, 7, 11):
        assert coco[0, left, 0] > coco[0, left + 1, 0]  # facing the camera: left on the right
    # turned a quarter clockwise on screen: (x, y) -> (h - y, x)
    turned = np.ascontiguousarray(np.rot90(image, k=-1))
    keypoints = found.keypoints.copy()
    keypoints[..., :2] = np.stack([h - found.keypoints[..., 1], found.keypoints[..., 0]], -1)
    again = net.landmarks(turned, np.array([[0.0, 0.0, h, w]]), keypoints=keypoints)
    expected = np.stack([h - found.landmarks[0, :33, 1], found.landmarks[0, :33, 0]], -1)
    assert np.abs(again.landmarks[0, :33, :2] - expected).max() < 3.0
    # world landmarks are in the image's axes: they turn too
    world = np.stack([-found.world[0, :33, 1], found.world[0, :33, 0]], -1)
    assert np.abs(again.world[0, :33, :2] - world).max() < 0.03
    np.testing.assert_allclose(np.rot90(found.mask[0], k=-1), again.mask[0], atol=0.05)


def test_boxes_alone_place_the_crops_with_movenet(photo_and_net):
    image, net = photo_and_net
    box = np.array([[0.0, 0.0, image.shape[1], image.shape[0]]])
    found = net.landmarks(image, box)
    np.testing.assert_allclose(found.keypoints, PHOTO_KEYPOINTS, atol=0.01)
    np.testing.assert_allclose(found.roi.side, roi_from_keypoints(PHOTO_KEYPOINTS, box).side,
                               rtol=1e-3)  # fmt: skip


def test_landmarks_on_a_blank_image_flag_no_person(photo_and_net):
    _, net = photo_and_net
    keypoints = _coco_person()[None]
    found = net.landmarks(np.zeros((300, 200, 3), np.uint8), np.array([[20, 20, 150, 250]]),
                          keypoints=keypoints)  # fmt: skip
    assert found.pose_flag[0] < 0.1
    for value in (found.landmarks, found.world, found.mask, found.visibility):
        assert np.isfinite(value).all()


def test_torch_roi_matches_the_numpy_rule():
    """The traceable torch ROI, affine and crop sampling (the encoder's BlazePose reading) give
    what the numpy ones give: usable keypoints, unusable ones (a low-scoring hip, NaNs), and a
    keypoint set whose radius is zero fall back the same way."""
    import torch

    from openhmr.posenet.pose_roi import (
        crop_to_image_torch,
        roi_from_keypoints,
        roi_from_keypoints_torch,
        sample_crops_torch,
        warp_crops,
    )

    rng = np.random.default_rng(3)
    keypoints = np.concatenate(
        [rng.uniform(20, 230, (5, 17, 2)), rng.uniform(0.3, 1.0, (5, 17, 1))], axis=2
    )
    keypoints[1, 11, 2] = 0.05  # a hip too faint: the box's crop
    keypoints[2, 3] = np.nan  # a NaN keypoint: the box's crop
    keypoints[3, :, :2] = 100.0  # every point on the hips: no length
    boxes = np.tile([10.0, 20.0, 200.0, 180.0], (5, 1))
    roi = roi_from_keypoints(keypoints, boxes)
    centre, side, up = roi_from_keypoints_torch(
        torch.from_numpy(keypoints), torch.from_numpy(boxes)
    )
    np.testing.assert_allclose(centre.numpy(), roi.centre, atol=1e-9)
    np.testing.assert_allclose(side.numpy(), roi.side, atol=1e-9)
    np.testing.assert_allclose(up.numpy(), roi.up, atol=1e-9)
    affine = crop_to_image_torch(centre, side, up, 64)
    np.testing.assert_allclose(affine.numpy(), roi.crop_to_image(64), atol=1e-9)
    images = torch.from_numpy(rng.uniform(0, 1, (5, 3, 250, 260)))
    per_image = [warp_crops(images[i], roi.crop_to_image(64)[i : i + 1], 64) for i in range(5)]
    np.testing.assert_allclose(
        sample_crops_torch(images, affine, 64).numpy(),
        torch.cat(per_image).numpy(),
        atol=1e-9,
    )
