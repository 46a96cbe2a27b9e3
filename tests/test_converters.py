"""Converters on small files of each dataset's real layout built here (savemat with the real
key names, a COCO JSON with the real schema, pickles like 3DPW's), and LSP-extended end to end
on the real data in ../shared/data/lspet."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import scipy.io

from openhmr.data.converters import CONVERTERS
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from tests.conftest import SHARED_DATA

LSPET = SHARED_DATA / "lspet"


def person(rng, n=14, visible=1.0, centre=(150, 120), size=60.0):
    xy = np.asarray(centre) + rng.uniform(-size, size, (n, 2))
    return np.concatenate([xy, np.full((n, 1), visible)], axis=1)


def test_lsp_layout_and_occlusion_flag(tmp_path):
    rng = np.random.default_rng(0)
    joints = np.stack([person(rng).T for _ in range(2000)], axis=2)  # 3 x 14 x 2000
    joints[2] = 0.0  # LSP's third row is an occlusion flag: 0 = visible
    joints[2, 5, 7] = 1.0  # row 7's left ankle occluded
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    (tmp_path / "images").mkdir()
    train, test = CONVERTERS["lsp"](tmp_path, tmp_path / "out")
    index = load_index(train, check_images=False)
    assert len(index) == 1000 and len(load_index(test, check_images=False)) == 1000
    assert index.keypoints2d[7, 5, 2] == 0 and index.keypoints2d[7, 4, 2] == 1
    np.testing.assert_allclose(index.keypoints2d[3, :14, :2], joints[:2, :, 3].T - 0.5)
    assert (index.keypoints2d[:, 14:, 2] == 0).all()
    assert index.imgname[0] == "im0001.jpg"


def test_lsp_wrong_layout_is_one_clear_error(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.zeros((5, 3, 10))})
    (tmp_path / "images").mkdir()
    with pytest.raises(OpenHMRError, match=r"must be 3 × 14 × N .* found \(5, 3, 10\)"):
        CONVERTERS["lsp"](tmp_path, tmp_path / "out")
    with pytest.raises(OpenHMRError, match=r"joints\.mat not found"):
        CONVERTERS["lspet"](tmp_path / "nowhere", tmp_path / "out")


def test_lspet_writes_no_split_unless_every_split_has_people(tmp_path):
    """A refused split (here: a held-out last person with no visible joint) leaves no other
    split's file behind; fractions outside [0, 1) and files that are not MATLAB's are refused."""
    rng = np.random.default_rng(0)
    joints = np.stack([person(rng) for _ in range(4)], axis=2)  # 14 x 3 x 4, LSP-extended
    joints[:, 2, 3] = 0  # the last person: nothing visible
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    (tmp_path / "images").mkdir()
    for i in range(4):
        (tmp_path / "images" / f"im{i + 1:05d}.jpg").write_bytes(b"")
    out = tmp_path / "out"
    with pytest.raises(OpenHMRError, match="lspet val: no person passed the filter"):
        CONVERTERS["lspet"](tmp_path, out, holdout_fraction=0.25)
    assert not out.exists()
    for fraction in (1.0, -0.1, float("nan")):
        with pytest.raises(OpenHMRError, match=r"holdout fraction: expected a number in \[0, 1\)"):
            CONVERTERS["lspet"](tmp_path, out, holdout_fraction=fraction)
    assert [p.name for p in CONVERTERS["lspet"](tmp_path, out, 0.5)] == [
        "lspet_train.npz",
        "lspet_val.npz",
    ]
    (tmp_path / "joints.mat").write_text("not MATLAB")
    with pytest.raises(OpenHMRError, match=r"expected a MATLAB \.mat file .* found a text file"):
        CONVERTERS["lspet"](tmp_path, out)


def test_mpii_release_struct(tmp_path):
    def point(joint, x, y, vis):
        return {"id": joint, "x": x, "y": y, "is_visible": vis}

    full = [point(j, 100 + 5 * j, 50 + 7 * j, 1) for j in range(16)]
    full[0]["is_visible"] = 0
    full[3]["is_visible"] = np.zeros(0)  # empty flag: annotated, counted visible
    rects = np.empty(2, dtype=object)
    rects[0] = {"annopoints": {"point": np.array(full, dtype=object)}}
    rects[1] = {"annopoints": {"point": np.array(full[:3], dtype=object)}}  # too few points
    annolist = np.empty(2, dtype=object)
    annolist[0] = {"image": {"name": "015601864.jpg"}, "annorect": rects}
    annolist[1] = {"image": {"name": "test.jpg"}, "annorect": rects}
    release = {"annolist": annolist, "img_train": np.array([1, 0])}
    scipy.io.savemat(tmp_path / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": release})
    (path,) = CONVERTERS["mpii"](tmp_path / "mpii_human_pose_v1_u12_1.mat", tmp_path / "out")
    index = load_index(path, check_images=False)
    assert list(index.imgname) == ["015601864.jpg"]
    kp = index.keypoints2d[0]
    np.testing.assert_allclose(kp[0], [99.5, 49.5, 0])  # r ankle, 1-based → −0.5, not visible
    np.testing.assert_allclose(kp[3, 2], 1)
    np.testing.assert_allclose(kp[12, :2], [100 + 40 - 0.5, 50 + 56 - 0.5])  # upper neck (8)
    np.testing.assert_allclose(kp[13, :2], [100 + 45 - 0.5, 50 + 63 - 0.5])  # head top (9)
    np.testing.assert_allclose(kp[6, :2], [100 + 50 - 0.5, 50 + 70 - 0.5])  # r wrist (10)


def test_coco_json_schema(tmp_path):
    rng = np.random.default_rng(1)
    coco17 = np.concatenate([rng.uniform(100, 300, (17, 2)), np.full((17, 1), 2)], axis=1)
    coco17[1, 2] = 1  # labelled but occluded counts as visible
    coco17[2] = 0  # unlabelled
    annotations = [
        {
            "id": 1,
            "image_id": 9,
            "category_id": 1,
            "iscrowd": 0,
            "num_keypoints": 16,
            "keypoints": coco17.ravel().tolist(),
            "bbox": [100, 100, 200, 200],
        },
        {
            "id": 2,
            "image_id": 9,
            "category_id": 1,
            "iscrowd": 1,
            "num_keypoints": 17,
            "keypoints": coco17.ravel().tolist(),
            "bbox": [0, 0, 1, 1],
        },
        {
            "id": 3,
            "image_id": 9,
            "category_id": 1,
            "iscrowd": 0,
            "num_keypoints": 0,
            "keypoints": [0] * 51,
            "bbox": [0, 0, 1, 1],
        },
    ]
    content = {
        "images": [{"id": 9, "file_name": "000000000009.jpg", "width": 640, "height": 480}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "person_keypoints_val2017.json"
    path.write_text(json.dumps(content))
    (out,) = CONVERTERS["coco"](path, tmp_path / "out")
    index = load_index(out, check_images=False)
    assert len(index) == 1 and out.name == "coco_val.npz"
    assert index.image_root.resolve() == (tmp_path / "val2017").resolve()
    kp = index.keypoints2d[0]
    np.testing.assert_allclose(kp[0, :2], coco17[16, :2])  # right ankle
    np.testing.assert_allclose(kp[14, :2], coco17[0, :2])  # nose
    assert kp[15, 2] == 1 and kp[16, 2] == 0 and kp[12, 2] == 0  # l eye, r eye, neck


def test_spin_npz_pass_through(tmp_path):
    rng = np.random.default_rng(2)
    n = 6
    part = np.concatenate([rng.uniform(0, 200, (n, 24, 2)), np.ones((n, 24, 1))], axis=2)
    S = np.concatenate([rng.normal(size=(n, 24, 3)), np.ones((n, 24, 1))], axis=2)
    np.savez(
        tmp_path / "h36m_valid_protocol1.npz",
        imgname=np.array([f"S9/{i}.jpg" for i in range(n)]),
        center=rng.uniform(0, 200, (n, 2)),
        scale=rng.uniform(0.5, 2, n),
        part=part,
        S=S,
        pose=rng.normal(size=(n, 72)),
        shape=rng.normal(size=(n, 10)),
        has_smpl=np.ones(n),
    )
    (out,) = CONVERTERS["spin"](
        tmp_path / "h36m_valid_protocol1.npz", tmp_path / "out", image_root=str(tmp_path)
    )
    index = load_index(out, check_images=False)
    assert out.name == "h36m_valid_protocol1.npz" and len(index) == n
    np.testing.assert_allclose(index.keypoints2d[:, 14, :2], part[:, 19, :2] + 0.5, rtol=1e-6)
    pelvis = S[:, [2, 3], :3].mean(axis=1)
    np.testing.assert_allclose(index.joints3d[:, 0, :3], S[:, 0, :3] - pelvis, atol=1e-6)


def test_3dpw_sequence_pickle(tmp_path):
    rng = np.random.default_rng(3)
    frames = 4
    turn = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])  # camera: 90° about z
    cam = np.repeat(np.eye(4)[None], frames, axis=0)
    cam[:, :3, :3] = turn
    cam[:, :3, 3] = [0.1, 0.2, 3.0]
    poses2d = np.concatenate(
        [rng.uniform(100, 400, (frames, 2, 18)), np.full((frames, 1, 18), 0.9)], axis=1
    )
    seq = {
        "sequence": "downtown_walking_00",
        "betas": [rng.normal(size=10)],
        "poses": [np.zeros((frames, 72))],
        "trans": [np.zeros((frames, 3))],
        "poses2d": [poses2d],
        "jointPositions": [rng.normal(size=(frames, 72))],
        "cam_poses": cam,
        "campose_valid": [np.array([1, 1, 0, 1])],
        "img_frame_ids": np.arange(frames),
        "genders": ["m"],
    }
    folder = tmp_path / "sequenceFiles" / "test"
    folder.mkdir(parents=True)
    (folder / "downtown_walking_00.pkl").write_bytes(pickle.dumps(seq, protocol=2))
    (out,) = CONVERTERS["3dpw"](tmp_path, tmp_path / "out")
    index = load_index(out, check_images=False)
    assert list(index.imgname) == [f"downtown_walking_00/image_{f:05d}.jpg" for f in (0, 1, 3)]
    np.testing.assert_allclose(index.pose[0, :3], [0, 0, np.pi / 2], atol=1e-6)  # root in camera
    np.testing.assert_allclose(index.keypoints2d[0, 0, :2], poses2d[0, :2, 10], rtol=1e-6)
    joints = (
        seq["jointPositions"][0][0].reshape(24, 3)[
            [8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15]
        ]
        @ turn.T
    )
    joints -= joints[[2, 3]].mean(axis=0)
    np.testing.assert_allclose(index.joints3d[0, :, :3], joints, atol=1e-5)


def test_3dhp_test_and_train_layouts(tmp_path):
    rng = np.random.default_rng(4)
    for n in range(1, 7):
        folder = tmp_path / f"TS{n}"
        folder.mkdir()
        frames = 3
        # MATLAB layout (2, 17, 1, F): h5py shows the v7.3 file's arrays as (F, 1, 17, 2)
        annot2 = rng.uniform(100, 1500, (2, 17, 1, frames))
        annot3 = rng.normal(0, 500, (3, 17, 1, frames))
        scipy.io.savemat(
            folder / "annot_data.mat",
            {"annot2": annot2, "annot3": annot3, "valid_frame": np.array([[1, 0, 1]]).T},
        )
    (test,) = CONVERTERS["3dhp-test"](tmp_path, tmp_path / "out")
    index = load_index(test, check_images=False)
    assert len(index) == 12 and index.imgname[1] == "TS1/imageSequence/img_000003.jpg"
    last = scipy.io.loadmat(tmp_path / "TS6" / "annot_data.mat")
    head_top = last["annot2"][:, 0, 0, 2]
    np.testing.assert_allclose(index.keypoints2d[-1, 13, :2], head_top + 0.5, rtol=1e-6)
    j3 = last["annot3"][:, :, 0, 2].T / 1000
    lsp = j3[[10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7, 1, 0]]
    np.testing.assert_allclose(index.joints3d[-1, :, :3], lsp - lsp[[2, 3]].mean(0), atol=1e-6)

    seq = tmp_path / "train" / "S1" / "Seq1"
    seq.mkdir(parents=True)
    cells2, cells3 = np.empty((14, 1), dtype=object), np.empty((14, 1), dtype=object)
    for c in range(14):
        cells2[c, 0] = rng.uniform(200, 1800, (25, 56))
        cells3[c, 0] = rng.normal(0, 500, (25, 84))
    scipy.io.savemat(seq / "annot.mat", {"annot2": cells2, "annot3": cells3})
    for f in (0, 10, 20):
        frame = seq / "imageFrames" / "video_0" / f"frame_{f + 1:06d}.jpg"
        frame.parent.mkdir(parents=True, exist_ok=True)
        frame.write_bytes(b"")
    (train,) = CONVERTERS["3dhp-train"](tmp_path / "train", tmp_path / "out")
    index = load_index(train, check_images=False)
    assert len(index) == 3 and index.imgname[2] == "S1/Seq1/imageFrames/video_0/frame_000021.jpg"
    np.testing.assert_allclose(
        index.keypoints2d[1, 0, :2], cells2[0, 0][10].reshape(28, 2)[25] + 0.5, rtol=1e-6
    )


@pytest.mark.skipif(not (LSPET / "joints.mat").exists(), reason="needs ../shared/data/lspet")
def test_lspet_end_to_end_keypoints_land_on_the_person(tmp_path):
    train, val = CONVERTERS["lspet"](LSPET, tmp_path, holdout_fraction=0.1)
    index = load_index(train)  # checks every image exists
    val_index = load_index(val)
    present = index.meta["images_present"]
    assert len(val_index) == round(0.1 * present)  # the last 10%, unfiltered
    assert val_index.imgname[-1] == f"im{present:05d}.jpg"
    assert not set(index.imgname) & set(val_index.imgname)
    dataset = RecordDataset(index)
    rng = np.random.default_rng(0)
    for row in rng.choice(len(index), 40, replace=False):
        sample = dataset[int(row)]
        kp = sample["keypoints2d"].numpy()
        visible = kp[:, 2] > 0
        assert visible.sum() >= 6
        # the released code's box: the person spans ~150 of 224 px, centred
        extent = kp[visible, :2].max(0) - kp[visible, :2].min(0)
        assert abs(extent.max() * 112 - 150) < 1.0
        assert np.abs(kp[visible, :2]).max() < 150 / 224 + 1e-6
        # the crop holds real image content where the keypoints are
        image = sample["image"].numpy()
        px = ((kp[visible, :2] + 1) * 112).astype(int).clip(0, 223)
        assert image[:, px[:, 1], px[:, 0]].sum() > 0
