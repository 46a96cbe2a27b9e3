"""The web page's work without a server (openhmr.web.service / upload): bad uploads get one
readable message, results are written as the page offers them, options reach the predictor.
The page itself in a browser and through gradio_client: tests/test_web_server.py."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openhmr import OpenHMRError, Predictor
from openhmr.inference.detect import Detections
from openhmr.inference.export import write_glb_meshes
from openhmr.web import PageService, parse_boxes, read_upload
from openhmr.web.clip import MAX_CLIP_FRAMES, MAX_CLIP_MEGAPIXELS
from openhmr.web.service import ScoreFilter, accepts_refine, with_threshold
from tests.test_video import _read_glb, moving_photo_clip

ASSETS = Path(__file__).resolve().parents[1] / "src" / "openhmr" / "inference" / "assets"
ASTRONAUT = ASSETS / "astronaut.jpg"
ASTRONAUT_BOX = "40, 10, 340, 500"


def bad_uploads(folder: Path) -> dict[str, tuple[Path, str]]:
    """Files the page must refuse, each with (a part of) the message it gives."""
    text = folder / "notes.txt"
    text.write_text("not a photo\n")
    truncated = folder / "cut.jpg"
    truncated.write_bytes(ASTRONAUT.read_bytes()[:20000])
    huge = folder / "huge.png"  # 50 megapixels, 1 bit per pixel: a small file
    Image.new("1", (7072, 7072)).save(huge)
    return {
        "text": (text, "notes.txt is not an image"),
        "truncated": (truncated, "truncated or damaged"),
        "huge": (huge, "50.0 megapixels"),
    }


def test_read_upload_refuses_bad_files(tmp_path):
    for path, message in bad_uploads(tmp_path).values():
        with pytest.raises(OpenHMRError, match=re.escape(message)):
            read_upload(path)
    with pytest.raises(OpenHMRError, match=r"my photo\.jpg is not an image"):
        read_upload(tmp_path / "notes.txt", name="my photo.jpg")  # the user's name, not ours
    image = read_upload(ASTRONAUT)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8


def test_read_upload_turns_exif_rotated_photos_upright(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    Image.fromarray(pixels).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = read_upload(tmp_path / "turned.jpg")
    assert upright.shape == (40, 20, 3)
    assert upright[:15].mean() > 200 and upright[25:].mean() < 50  # white half on top


def test_parse_boxes():
    assert parse_boxes("") is None and parse_boxes("  \n ") is None
    np.testing.assert_array_equal(parse_boxes("1, 2, 3, 4"), [[1, 2, 3, 4]])
    np.testing.assert_array_equal(parse_boxes("1 2 3 4; 5,6,7,8\n"), [[1, 2, 3, 4], [5, 6, 7, 8]])
    for bad in ("1, 2, 3", "1, 2, 0, 4", "a, b, c, d", "1, 2, 3, nan"):
        with pytest.raises(OpenHMRError, match="expected four numbers"):
            parse_boxes(bad)


def test_glb_of_several_meshes_opens_in_trimesh(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    tetra = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    meshes = [(tetra, faces), (tetra + np.array([3.0, 0, 0]), faces)]
    write_glb_meshes(tmp_path / "two.glb", meshes, colors=[(1, 0, 0), (0, 0, 1)], names=["a", "b"])
    scene = trimesh.load(tmp_path / "two.glb", process=False)
    assert len(scene.geometry) == 2
    got = sorted(np.asarray(g.vertices).min(0)[0] for g in scene.geometry.values())
    np.testing.assert_allclose(got, [0, 3], atol=1e-6)
    colors = sorted(tuple(g.visual.material.baseColorFactor[:3]) for g in scene.geometry.values())
    assert colors == [(0, 0, 255), (255, 0, 0)]
    with pytest.raises(OpenHMRError, match="2 meshes but 1 colours"):
        write_glb_meshes(tmp_path / "bad.glb", meshes, colors=[(1, 0, 0)])


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return PageService(Predictor.from_checkpoint("default"), tmp_path_factory.mktemp("page"))


def test_service_writes_what_the_page_offers(service, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    two = f"{ASTRONAUT_BOX}; 300, 200, 150, 300"
    result = service.run(ASTRONAUT, "my astronaut.jpg", boxes=two)
    assert result.people == 2 and "2 people from the boxes typed" in result.message
    assert result.overlay.shape == result.side.shape == (512, 512, 3)
    names = [p.name for p in result.files]
    assert names == [
        "my_astronaut.glb",
        "my_astronaut_0.obj",
        "my_astronaut_1.obj",
        "my_astronaut.json",
    ]
    scene = trimesh.load(result.glb, process=False)
    assert len(scene.geometry) == 2
    obj = trimesh.load(result.files[1], process=False, force="mesh")
    glb_vertices = [np.asarray(g.vertices) for g in scene.geometry.values()]
    assert any(np.allclose(obj.vertices, v, atol=1e-5) for v in glb_vertices)
    record = json.loads(result.files[-1].read_text())
    assert record == json.loads(json.dumps(result.record)) and len(record["people"]) == 2
    single = service.run(ASTRONAUT, boxes=ASTRONAUT_BOX, draw_boxes=False)
    assert (single.overlay != result.overlay).any()  # the boxes were drawn
    # one body's height in metres (y up); the default model folds the unseen legs of this
    # half-length portrait, so less than standing height
    assert 0.5 < single.scene_size[1] < 2.5
    assert single.scene_size[0] < result.scene_size[0]  # two people side by side


def test_service_refuses_bad_uploads_and_empty_photos(service, tmp_path):
    for path, message in bad_uploads(tmp_path).values():
        with pytest.raises(OpenHMRError, match=re.escape(message)):
            service.run(path)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (200, 200, 200)).save(blank)
    with pytest.raises(OpenHMRError, match=r"No person found in blank\.png\. Try a lower"):
        service.run(blank)
    with pytest.raises(OpenHMRError, match="lies outside the 512x512 image"):
        service.run(ASTRONAUT, boxes="900, 900, 10, 10")
    with pytest.raises(OpenHMRError, match="detection threshold"):
        service.run(ASTRONAUT, threshold=-1)


def test_threshold_reaches_the_detector():
    @dataclasses.dataclass(frozen=True)
    class Tuned:
        threshold: float = 0.3

        def __call__(self, image):
            return Detections(np.zeros((0, 4)), np.zeros(0))

    assert with_threshold(Tuned(), 0.7) == Tuned(0.7)

    def fixed(image):
        return Detections(np.array([[0, 0, 5, 9], [1, 1, 5, 9.0]]), np.array([0.9, 0.2]))

    found = with_threshold(fixed, 0.5)(np.zeros((10, 10, 3), np.uint8))
    assert isinstance(with_threshold(fixed, 0.5), ScoreFilter)
    np.testing.assert_array_equal(found.boxes, [[0, 0, 5, 9]])
    np.testing.assert_array_equal(found.scores, [0.9])


class Refining(Predictor):
    """A predictor with the `refine` option the refinement work adds; records what it got."""

    def __init__(self, model, refine: bool = False, **options):
        super().__init__(model, **options)
        self.refine = refine
        self.seen = []

    def __call__(self, image, boxes=None):
        self.seen.append(self.refine)
        return super().__call__(image, boxes)


def test_refinement_is_offered_only_when_the_predictor_has_it(service):
    assert accepts_refine(Predictor) == (
        "refine" in inspect.signature(Predictor).parameters,
        "refine" in inspect.signature(Predictor.__call__).parameters,
    )
    predictor = Refining(service.predictor.model)
    page = PageService(predictor, service.work_dir)
    assert page.supports_refine and accepts_refine(Refining) == (True, False)
    refined = page.run(ASTRONAUT, boxes=ASTRONAUT_BOX, refine=True)
    page.run(ASTRONAUT, boxes=ASTRONAUT_BOX, refine=False)
    assert predictor.seen == [False]  # refine=True went to a second predictor...
    assert refined.people == 1  # ...sharing the network
    variants = list(page._variants.values())
    assert [v.refine for v in variants] == [True, False] and variants[0].model is predictor.model


def test_refine_checkbox_only_when_the_predictor_has_it(service):
    pytest.importorskip("gradio")
    from openhmr.web.app import build_app

    def page_elements(page: PageService) -> tuple[set, int]:
        app = build_app(page)
        ids = {c.get("props", {}).get("elem_id") for c in app.get_config_file()["components"]}
        parameters = app.get_api_info()["named_endpoints"]["/predict"]["parameters"]
        return ids, len(parameters)

    plain = PageService(Predictor(service.predictor.model), service.work_dir)
    if not plain.supports_refine:  # until the refinement work lands
        ids, parameters = page_elements(plain)
        assert "refine" not in ids and parameters == 4
    refining = PageService(Refining(service.predictor.model), service.work_dir)
    ids, parameters = page_elements(refining)
    assert "refine" in ids and parameters == 5


def test_a_busy_port_is_refused_before_anything_loads():
    import socket

    from openhmr.web.app import check_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OpenHMRError, match=f"127.0.0.1:{port} .*try another --port"):
            check_port("127.0.0.1", port)


CLIP_FRAMES, CLIP_FPS, CLIP_STEP = 8, 8.0, 6  # 1 s; the photo slides 6 px a frame


def small_clip(path: Path) -> Path:
    """A 320x180 clip, 8 frames at 8 frames/s, of the bundled photo sliding right: one person
    the detector finds in every frame, moving (the page's animation then moves)."""
    moving_photo_clip(path, CLIP_FRAMES, CLIP_FPS, width=320, height=180, step=CLIP_STEP)
    return path


def test_service_tracks_a_clip(service, tmp_path):
    import cv2

    seen = []
    result = service.run_video(
        small_clip(tmp_path / "upload.mp4"), "my walk.mp4", report=lambda *a: seen.append(a)
    )
    assert result.tracks == 1 and result.frames == CLIP_FRAMES
    assert result.message.startswith("1 person tracked over 8 frames (8 frames/s) of my walk.mp4")
    assert [p.name for p in result.files] == [
        "my_walk_tracks.glb",
        "my_walk_track0.npz",
        "my_walk_track0.bvh",
    ]
    assert result.glb == result.files[0] and result.video.name == "my_walk_tracked.webm"
    # the folder holds what the page offers and nothing else (no input link, no partial file)
    assert sorted(p.name for p in result.glb.parent.iterdir()) == sorted(
        [*(p.name for p in result.files), result.video.name]
    )
    capture = cv2.VideoCapture(str(result.video))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert fourcc == b"VP80" and count == CLIP_FRAMES  # VP8 in WebM: browsers play it
    with np.load(result.files[1]) as track:
        speed = np.diff(track["bbox"][:, [0, 2]].mean(1)).mean()
        assert track["observed"].all() and speed == pytest.approx(CLIP_STEP, abs=2.0)
    gltf, _ = _read_glb(result.glb)
    assert len(gltf["animations"]) == 1 and len(gltf["skins"]) == 1
    assert result.record["tracks"] == [
        {"id": 0, "first_frame": 0, "last_frame": 7, "observed_frames": 8}
    ]
    assert result.record["fps"] == CLIP_FPS and result.record["name"] == "my walk.mp4"
    stages = [(stage, done) for stage, done, _ in seen]
    assert stages == [("tracking", f) for f in range(1, 9)] + [("drawing", f) for f in range(1, 9)]
    assert {total for *_, total in seen} == {CLIP_FRAMES}


def bad_clips(folder: Path) -> dict[str, tuple[Path, str]]:
    """Clips the page must refuse before the model runs, each with a pattern of its message."""
    import cv2

    clip = small_clip(folder / "good.mp4").read_bytes()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "noise.mp4").write_bytes(np.random.default_rng(1).bytes(4096))
    (folder / "notes.txt").write_text("not a video\n")
    # an MP4 whose media header gives time scale 0: FFmpeg reads 1/1024 frames/s
    timescale = clip.index(b"mdhd") + 16
    (folder / "rate0.mp4").write_bytes(clip[:timescale] + bytes(4) + clip[timescale + 4 :])
    # an AVI of a codec nobody has ("XXXX")
    writer = cv2.VideoWriter(
        str(folder / "codec.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)
    )
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    avi = (folder / "codec.avi").read_bytes()
    format_tag = avi.index(b"strf") + 8 + 16
    avi = avi.replace(b"vidsMJPG", b"vidsXXXX")
    (folder / "codec.avi").write_bytes(avi[:format_tag] + b"XXXX" + avi[format_tag + 4 :])
    for name, frames, size in (
        ("long.mp4", MAX_CLIP_FRAMES + 1, (32, 32)),
        ("big.mp4", 1, (2000, 1100)),
    ):
        writer = cv2.VideoWriter(str(folder / name), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
        for _ in range(frames):
            writer.write(np.zeros((size[1], size[0], 3), np.uint8))
        writer.release()
    messages = {
        "empty": (folder / "empty.mp4", "empty.mp4: the file is empty"),
        "noise": (folder / "noise.mp4", "noise.mp4 is not a video this page can read"),
        "text": (folder / "notes.txt", "notes.txt is not a video this page can read"),
        "photo": (ASTRONAUT, "astronaut.jpg is a photo, not a video: use the Photo tab"),
        "codec": (folder / "codec.avi", "an AVI file whose video cannot be decoded here"),
        "long": (
            folder / "long.mp4",
            f"has {MAX_CLIP_FRAMES + 1} frames (10.0 s); the page takes up to {MAX_CLIP_FRAMES}",
        ),
        "big": (
            folder / "big.mp4",
            "frames of 2000x1100 pixels; the page takes up to 2.1 megapixels",
        ),
    }
    patterns = {name: (path, re.escape(text)) for name, (path, text) in messages.items()}
    rate = r"rate0\.mp4: its header gives a frame rate of 0\.000\d+ frames/s; expected 1 to 1000"
    return {**patterns, "rate 0": (folder / "rate0.mp4", rate)}


def test_service_refuses_bad_clips_and_leaves_nothing(service, tmp_path, monkeypatch):
    import cv2

    from openhmr.web import clip as page_clip

    before = set(service.work_dir.iterdir())
    for path, pattern in bad_clips(tmp_path).values():
        with pytest.raises(OpenHMRError, match=pattern):
            service.run_video(path)
    grey = tmp_path / "grey.mp4"
    writer = cv2.VideoWriter(str(grey), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for _ in range(6):
        writer.write(np.full((120, 160, 3), 128, np.uint8))
    writer.release()
    with pytest.raises(OpenHMRError, match=r"No person tracked in grey\.mp4: 0 detections in 6"):
        service.run_video(grey)
    with pytest.raises(OpenHMRError, match="detection threshold"):
        service.run_video(grey, threshold=-1)
    # a raw MJPEG stream does not say its length: the pipeline stops at the limit
    stream = tmp_path / "stream.mjpeg"
    stream.write_bytes(
        b"".join(
            cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes() for _ in range(5)
        )
    )
    assert page_clip.read_clip(stream).frames is None
    monkeypatch.setattr(page_clip, "MAX_CLIP_FRAMES", 3)
    with pytest.raises(OpenHMRError, match=r"^stream\.mjpeg: longer than 3 frames"):
        service.run_video(stream)
    assert set(service.work_dir.iterdir()) == before  # no result folder left behind
    assert not list(Path(tmp_path).glob("*.webm"))


def test_page_has_a_video_tab_with_its_own_endpoint(service):
    pytest.importorskip("gradio")
    from openhmr.web.app import build_app

    app = build_app(service)
    ids = {c.get("props", {}).get("elem_id") for c in app.get_config_file()["components"]}
    outputs = {"clip-status", "clip-overlay", "clip-viewer", "clip-downloads", "clip-record"}
    assert {"clip", "clip-threshold", "clip-run", *outputs} <= ids
    endpoints = app.get_api_info()["named_endpoints"]
    assert set(endpoints) == {"/predict", "/predict_video"}
    parameters = endpoints["/predict_video"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == ["clip", "threshold"]
    assert len(endpoints["/predict_video"]["returns"]) == 4


def test_serve_help_states_the_video_limits(capsys):
    from openhmr.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert f"up to {MAX_CLIP_FRAMES} frames of 1920x1080" in " ".join(
        capsys.readouterr().out.split()
    )
    assert MAX_CLIP_MEGAPIXELS * 1e6 >= 1920 * 1080 > MAX_CLIP_MEGAPIXELS * 1e6 * 0.95


def test_videos_read_one_view_as_demo_track_does(service, tmp_path, monkeypatch):
    from openhmr.web import service as page_service
    from openhmr.web.service import with_views

    model = service.predictor.model
    assert model.config.views != "one"  # the bundled model averages views for photos
    seen = []

    def capture(predictor, *args, **kwargs):
        seen.append(predictor.model)
        raise OpenHMRError("captured")

    monkeypatch.setattr(page_service, "track_clip", capture)
    clip = small_clip(tmp_path / "upload.mp4")
    for views, expected in (("one", "one"), (None, model.config.views), ("flip", "flip")):
        page = PageService(service.predictor, service.work_dir, video_views=views)
        with pytest.raises(OpenHMRError, match="captured"):
            page.run_video(clip)
        assert seen[-1].config.views == expected
    assert seen[1] is model and model.config.views != "one"  # the photos' model is untouched
    # the copy shares the weights and reads like a model loaded to read one view
    copy = with_views(model, "one")
    assert all(a is b for a, b in zip(copy.parameters(), model.parameters(), strict=True))
    image, box = np.asarray(Image.open(ASTRONAUT).convert("RGB")), np.array([[40, 10, 340, 500]])
    ours = Predictor(copy)(image, boxes=box)[0]
    loaded = Predictor.from_checkpoint("default", views="one")(image, boxes=box)[0]
    np.testing.assert_allclose(ours.pose, loaded.pose, atol=1e-5)
    photo = service.predictor(image, boxes=box)[0]
    assert np.abs(photo.pose - ours.pose).max() > 1e-3  # the photos still average views


def test_serve_takes_views(capsys):
    from openhmr.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--views {one,mirror,mirror-turns,flip,flip-turns}" in text
    assert "photos the checkpoint's, videos one" in text
