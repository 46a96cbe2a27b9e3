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
from openhmr.web.service import ScoreFilter, accepts_refine, with_threshold

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
