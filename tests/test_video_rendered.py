"""Synthetic sequences rendered to frames (`openhmr.video.rendered`) and run through the real
predictor and tracker (issue 28): the frames against the exact truth, and what the tracked
output must get right even on a 10-frame clip of two people."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from openhmr.body import load_body_model
from openhmr.errors import OpenHMRError
from openhmr.video.metrics import tracking_metrics
from openhmr.video.rendered import render_sequence
from openhmr.video.synthetic import make_sequence
from openhmr.video.track import iou

TORSO = [2, 3, 8, 9, 12]  # cocoplus hips, shoulders, neck: joint centres inside the body


@pytest.fixture(scope="module")
def body():
    return load_body_model("open")


@pytest.fixture(scope="module")
def walk(body):
    """Two people (sampler motion) crossing at 640 x 360 over 150 frames: their boxes start
    to overlap at frame 58; from 61 the farther one's box is over 60% covered."""
    return make_sequence(body, np.random.default_rng(7), 2, 150)


@pytest.fixture(scope="module")
def clip(body, walk, tmp_path_factory):
    """Frames 51-60 of the walk: both people visible as they approach each other, moving at
    their walking speed (a 10-frame `make_sequence` would cross the frame in 10 frames)."""
    sequence = walk.window(51, 61)
    folder = tmp_path_factory.mktemp("rendered") / "frames"
    return sequence, render_sequence(sequence, body, folder, np.random.default_rng(8))


def test_rendered_frames_show_the_truth(clip):
    import cv2

    sequence, rendered = clip
    width, height = sequence.size
    assert [p.name for p in rendered.frames] == [f"frame_{f:05d}.jpg" for f in range(10)]
    assert sorted(rendered.folder.iterdir()) == rendered.frames  # nothing else, no partial
    assert cv2.imread(str(rendered.frames[0])).shape == (height, width, 3)
    assert sequence.visible.all()  # both people in view and not hidden in every frame
    depth = sequence.transl[..., 2]  # P x F
    for f in range(sequence.num_frames):
        shown = rendered.person_map[f]
        for p in range(sequence.num_people):
            x0, y0, x1, y1 = sequence.boxes[p, f]
            rows, cols = np.nonzero(shown == p)
            inside = (
                (cols + 0.5 >= x0) & (cols + 0.5 <= x1) & (rows + 0.5 >= y0) & (rows + 0.5 <= y1)
            )
            # the person's pixels lie in their true box (keypoints + 10%; hands reach past)
            assert inside.mean() > 0.9
            # the whole silhouette (rendered alone) spans every true keypoint
            low, high = np.split(rendered.silhouette_boxes[p, f], 2)
            keypoints = sequence.keypoints[p, f]
            assert ((keypoints > low - 1.5) & (keypoints < high + 1.5)).all()
            # torso keypoints fall on this person or on someone nearer (who hides them)
            kx, ky = np.floor(sequence.keypoints[p, f, TORSO]).astype(int).T
            owner = shown[ky, kx]
            nearer = np.array([q >= 0 and depth[q, f] < depth[p, f] for q in owner])
            assert ((owner == p) | nearer).all()
    assert (rendered.seen_share() == 1.0).all()  # not crossing yet: nobody hides anybody


def test_nearer_people_hide_farther_ones(body, walk, tmp_path):
    """Where the paths cross, the nearer body hides most of the farther one; the box rule of
    `make_sequence` had called the farther person hidden 10 frames before that."""
    sequence = walk.window(72, 75)
    rendered = render_sequence(sequence, body, tmp_path / "crossing", np.random.default_rng(8))
    seen = rendered.seen_share()
    near, far = np.argsort(sequence.transl[:, 0, 2])
    assert (seen[near] == 1.0).all()
    assert (seen[far] > 0.0).all() and (seen[far] < 0.4).all()
    assert (rendered.silhouette_px[far] > 1000).all()  # in view, and mostly hidden
    assert not rendered.visible(sequence)[far].any() and rendered.visible(sequence)[near].all()
    early = walk.window(62, 63)
    assert not early.visible[far].any()  # boxes over 60% covered
    shown = render_sequence(early, body, tmp_path / "early", np.random.default_rng(8))
    assert shown.seen_share()[far, 0] > 0.9 and shown.visible(early)[far].all()


def test_render_sequence_pans_the_background(body, tmp_path):
    """A panning camera: the background slides by f · Δtan(yaw) pixels between frames."""
    import cv2

    sequence = make_sequence(body, np.random.default_rng(3), 2, 2, (320, 180), camera_pan_deg=6)
    rendered = render_sequence(sequence, body, tmp_path / "pan", np.random.default_rng(4))
    shift = round(sequence.focal * np.tan(np.deg2rad(6.0)))
    first, last = (cv2.imread(str(p)).astype(float) for p in rendered.frames)
    free = (rendered.person_map[0] < 0) & (rendered.person_map[1] < 0)
    free = free[:, : -shift - 2] & np.roll(free, -shift, axis=1)[:, : -shift - 2]
    moved = np.abs(last[:, shift:-2] - first[:, : -shift - 2]).mean(-1)[free]
    still = np.abs(last[:, : -shift - 2] - first[:, : -shift - 2]).mean(-1)[free]
    assert np.median(moved) < 4 < np.median(still)


def test_render_sequence_refuses_bad_input(body, smplx_npz, tmp_path):
    sequence = make_sequence(body, np.random.default_rng(0), 2, 3, (160, 90))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "note.txt").write_text("mine")
    with pytest.raises(OpenHMRError, match="new or empty folder"):
        render_sequence(sequence, body, taken, np.random.default_rng(0))
    assert sorted(p.name for p in taken.iterdir()) == ["note.txt"]
    with pytest.raises(OpenHMRError, match="body model the sequence was made with"):
        render_sequence(
            sequence, load_body_model(smplx_npz), tmp_path / "other", np.random.default_rng(0)
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "taken"]  # no partial
    with pytest.raises(OpenHMRError, match="start < stop"):
        sequence.window(2, 2)


def test_match_truth_finds_each_person_and_nobody_for_a_stray_box(walk):
    from openhmr.video.evaluate import match_truth, score_tracked

    f = 58  # the boxes start to overlap
    order = np.array([1, 0])
    boxes = np.concatenate([walk.boxes[order, f], [[0.0, 0.0, 60.0, 40.0]]])
    keypoints = np.concatenate([walk.keypoints[order, f], walk.keypoints[:1, f] + 300.0])
    np.testing.assert_array_equal(match_truth(walk, f, boxes, keypoints), [1, 0, -1])
    # a box between the two (IoU 0.27 with person 0, 0.29 with person 1): keypoints decide
    shifted = walk.boxes[0, f] + (walk.boxes[1, f] - walk.boxes[0, f]) * 0.6
    assert iou(shifted, walk.boxes[0, f]) < iou(shifted, walk.boxes[1, f])
    assert match_truth(walk, f, shifted[None], walk.keypoints[:1, f])[0] == 0
    assert match_truth(walk, f, shifted[None], walk.keypoints[1:, f])[0] == 1
    with pytest.raises(OpenHMRError, match=r"visible: expected \(2, 150\)"):
        score_tracked(None, walk, [], [], visible=np.ones((1, 1), bool))


def _shown(sequence, frames, order_at):
    """Detections showing each person exactly (boxes, keypoints), tracks 10 and 11 following
    persons 0 and 1; order_at(f): which person each of the two detections shows at f."""
    from openhmr.video.synthetic import FrameEstimates

    estimates = []
    for f in frames:
        order = np.array(order_at(f))
        points = np.concatenate([sequence.keypoints[order, f], np.ones((2, 19, 1))], -1)
        zeros = np.zeros((2, 24, 3))
        estimates.append(
            FrameEstimates(sequence.boxes[order, f], points, zeros, np.zeros((2, 10)),
                           np.zeros((2, 3)), np.full(2, -1))
        )  # fmt: skip
    return estimates


def test_clear_mot_matching_keeps_a_track_on_a_person_it_still_overlaps(walk):
    """Two people in nearly the same box: a frame where the detections' boxes and keypoints
    fit the other person better is a switch frame by frame, but not with the tracks' ids
    (CLEAR MOT keeps a match whose boxes still overlap by IoU >= 0.5). People apart whose
    tracks truly trade places are switches either way."""
    from openhmr.video.evaluate import with_truth

    frames = range(10)
    near = dataclasses.replace(walk, boxes=walk.boxes.copy(), keypoints=walk.keypoints.copy())
    near.boxes[1] = near.boxes[0] + np.array([2.0, 5.0, 2.0, 0.0])  # IoU over 0.8
    near.keypoints[1] = near.keypoints[0] + np.array([3.0, 2.0])
    assert (iou(near.boxes[0, :10], near.boxes[1, :10]) > 0.8).all()
    estimates = _shown(near, frames, lambda f: [1, 0] if f == 5 else [0, 1])
    ids = [np.array([10, 11])] * len(frames)
    visible = np.ones((2, 10), bool)

    def switches(truthed) -> int:
        return tracking_metrics([e.truth for e in truthed], ids, visible).switches

    frame_by_frame = with_truth(near, estimates)
    assert frame_by_frame[5].truth.tolist() == [1, 0] and switches(frame_by_frame) == 4
    held = with_truth(near, estimates, ids)
    assert all(e.truth.tolist() == [0, 1] for e in held) and switches(held) == 0
    # apart (boxes disjoint): from frame 5 on the tracks follow the other person
    apart = _shown(walk, frames, lambda f: [1, 0] if f >= 5 else [0, 1])
    assert (iou(walk.boxes[0, :10], walk.boxes[1, :10]) == 0).all()
    truthed = with_truth(walk, apart, ids)
    assert truthed[5].truth.tolist() == [1, 0] and switches(truthed) == 2


def test_real_pipeline_tracks_rendered_people(clip, tmp_path):
    """The predictor and tracker of `demo --track` on the frames, scored against the truth as
    benchmarks/video_tracking.py --estimator real scores them; and the tracks scored are the
    tracks `run_tracked` writes."""
    from openhmr.inference.predictor import DEFAULT_MODEL
    from openhmr.model.checkpoint import trained_body_model
    from openhmr.video.command import tracking_predictor
    from openhmr.video.evaluate import score_tracked, with_truth
    from openhmr.video.pipeline import detect_and_track, open_frames, run_tracked, smoothed_tracks

    sequence, rendered = clip
    predictor = tracking_predictor()
    images, _, _ = open_frames(rendered.folder, sequence.fps)
    estimates, ids = [], []
    for frame, frame_ids, _ in detect_and_track(predictor, images):
        estimates.append(frame)
        ids.append(frame_ids)
    frames = with_truth(sequence, estimates)
    body = load_body_model(trained_body_model(DEFAULT_MODEL))
    score = score_tracked(body, sequence, frames, ids, visible=rendered.visible(sequence))

    # both people found and tracked, each by a track of their own, without a switch
    assert (score.detected >= 0.7).all() and (score.tracking.coverage >= 0.7).all()
    tracks = [raw for raw, _ in smoothed_tracks(frames, ids)]
    assert sorted(t.majority_truth() for t in tracks) == [0, 1]
    assert score.tracking.switches == 0
    # association: each matched detection's box is its person's true box, nothing unmatched
    for f, e in enumerate(frames):
        matched = e.truth >= 0
        assert (iou(e.boxes[matched], sequence.boxes[e.truth[matched], f]) > 0.4).all()
        assert len(set(e.truth[matched])) == matched.sum()
    assert score.unmatched == 0 and score.match_iou > 0.6
    # motion: finite, on the metre scale of a body (a wrong axis or unit is metres off), and
    # smoothing takes most of the per-frame jitter out
    m = score.motion
    assert m.frames >= 14
    assert np.isfinite([m.mpjpe_raw, m.mpjpe_smooth, m.accel_raw, m.accel_smooth]).all()
    assert 20 < m.mpjpe_raw < 300 and m.mpjpe_smooth < 300
    assert m.accel_smooth < 0.6 * m.accel_raw

    # run_tracked (demo --track) writes the same smoothed tracks from the same frames
    summary = run_tracked(predictor, rendered.folder, tmp_path, fps=sequence.fps, progress=False)
    assert summary.tracks == len(tracks)
    for raw, smooth in smoothed_tracks(frames, ids):
        written = np.load(tmp_path / f"frames_track{raw.id}.npz")
        np.testing.assert_array_equal(written["frame"], smooth.frames)
        np.testing.assert_allclose(written["pose"], smooth.pose, atol=1e-5)


def test_video_detector_finds_small_people_the_image_detector_misses(body, tmp_path):
    """Three people 118-167 px tall standing apart in 640 x 360 frames (sampler motion, seed
    3, frames 35, 45, 55). The image demo's detector (MultiPose letter-boxed to a 256 px
    square, where they are 47-67 px) missed one of them in each frame; demo --track's
    detector (384 px on the frame's shape) finds all three, and nothing else."""
    from openhmr.inference.detect import MoveNetPersonDetector
    from openhmr.video.evaluate import match_truth, stacked
    from openhmr.video.pipeline import open_frames
    from openhmr.video.tiles import VIDEO_THRESHOLD, TiledDetector, video_detector
    from openhmr.video.track import xywh_to_xyxy

    walk = make_sequence(body, np.random.default_rng(3), 3, 60)
    detectors = {
        "image": TiledDetector(MoveNetPersonDetector()),
        "video": video_detector(MoveNetPersonDetector(), VIDEO_THRESHOLD),
    }
    found = {name: 0 for name in detectors}
    stray = {name: 0 for name in detectors}
    for f in (35, 45, 55):
        frame = walk.window(f, f + 1)
        rendered = render_sequence(frame, body, tmp_path / f"f{f}", np.random.default_rng(8))
        assert rendered.visible(frame).all() and not stacked(frame).any()
        image = next(open_frames(rendered.folder, None)[0])
        heights = frame.boxes[:, 0, 3] - frame.boxes[:, 0, 1]
        assert (heights > 110).all() and (heights < 175).all()
        for name, detector in detectors.items():
            boxes = xywh_to_xyxy(detector(image).boxes)
            person = match_truth(frame, 0, boxes, np.zeros((len(boxes), 0, 3)))  # by boxes
            found[name] += len(set(person[person >= 0]))
            stray[name] += int((person < 0).sum())
    assert found["video"] == 9 and stray["video"] == 0
    assert found["image"] <= 7


def test_stacked_people_are_those_with_another_torso_close_by(walk):
    """Where the paths cross (frames 64-85) the torso centres pass within 0.2 of a person's
    height; the farther person (shorter in the image) is counted for fewer frames."""
    import dataclasses

    from openhmr.video.evaluate import stacked

    crowd = stacked(walk)
    assert (
        walk.boxes[1, :, 3] - walk.boxes[1, :, 1] < walk.boxes[0, :, 3] - walk.boxes[0, :, 1]
    ).all()
    np.testing.assert_array_equal(np.flatnonzero(crowd[0]), np.arange(64, 86))
    np.testing.assert_array_equal(np.flatnonzero(crowd[1]), np.arange(68, 82))
    gone = walk.boxes.copy()
    gone[1] = [-500.0, 0.0, -400.0, 100.0]  # the second person out of view
    assert not stacked(dataclasses.replace(walk, boxes=gone))[0].any()  # nobody near them
    with pytest.raises(OpenHMRError, match="expected the 19 cocoplus keypoints, got 17"):
        stacked(dataclasses.replace(walk, keypoints=walk.keypoints[:, :, :17]))
