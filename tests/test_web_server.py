"""`openhmr serve` as a user and a script meet it: the server started as a subprocess on a free
loopback port, the page driven in Debian's headless chromium (Selenium with chromium-driver;
skipped when either is missing), and the `predict` endpoint called with gradio_client, four
clients at once.  The browser may reach nothing but the server (an offline page)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from tests.test_web import (
    ASTRONAUT,
    ASTRONAUT_BOX,
    CLIP_FRAMES,
    bad_clips,
    bad_uploads,
    small_clip,
)

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

STARTUP_SECONDS = 240  # a first run compiles the detector and renderer (numba)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of an `openhmr serve` subprocess; stopped by its process id afterwards."""
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = open(folder / "serve.log", "w")  # noqa: SIM115 (open for the server's lifetime)
    environment = {**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio")}
    process = subprocess.Popen(
        [sys.executable, "-m", "openhmr", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{(folder / 'serve.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def predict(url: str, path: Path, boxes: str = ""):
    client = gradio_client.Client(url, verbose=False)
    return client.predict(gradio_client.handle_file(str(path)), boxes=boxes, api_name="/predict")


def check_result(result, people: int) -> None:
    """predict's (overlay image path, GLB path, JSON record) for a photo of `people`."""
    trimesh = pytest.importorskip("trimesh")
    overlay, glb, record = result
    assert Image.open(overlay).size == (512, 512)
    assert len(trimesh.load(glb, process=False).geometry) == people
    assert len(record["people"]) == people and len(record["people"][0]["pose"]) == 24


def test_predict_endpoint(server, tmp_path):
    client = gradio_client.Client(server, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/predict", "/predict_video"}  # the page's events stay private
    check_result(predict(server, ASTRONAUT, ASTRONAUT_BOX), people=1)
    two = f"{ASTRONAUT_BOX}; 300, 200, 150, 300"
    check_result(predict(server, ASTRONAUT, two), people=2)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (200, 200, 200)).save(blank)
    cases = {**bad_uploads(tmp_path), "nobody": (blank, "No person found in blank.png")}
    for path, message in cases.values():
        with pytest.raises(gradio_client.exceptions.AppError, match=re.escape(message)):
            predict(server, path)
    check_result(predict(server, ASTRONAUT, ASTRONAUT_BOX), people=1)  # still serving


def test_predict_video_endpoint(server, tmp_path):
    import cv2

    client = gradio_client.Client(server, verbose=False)
    clip = gradio_client.handle_file(str(small_clip(tmp_path / "walk.mp4")))
    video, glb, files, record = client.predict(clip, api_name="/predict_video")
    capture = cv2.VideoCapture(video)  # a path, as for every file
    assert Path(video).name == "walk_tracked.webm"
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == CLIP_FRAMES
    capture.release()
    assert Path(glb).name == "walk_tracks.glb" and Path(glb).stat().st_size > 0
    assert sorted(Path(f).name for f in files) == [
        "walk_track0.bvh",
        "walk_track0.npz",
        "walk_tracks.glb",
    ]
    assert [t["observed_frames"] for t in record["tracks"]] == [CLIP_FRAMES]
    cases = bad_clips(tmp_path)
    for name in ("empty", "photo", "rate 0"):
        path, pattern = cases[name]
        with pytest.raises(gradio_client.exceptions.AppError, match=pattern):
            client.predict(gradio_client.handle_file(str(path)), api_name="/predict_video")


def test_four_clients_at_once(server):
    boxes = [[40, 10, 340, 500], [50, 10, 330, 500], [40, 20, 340, 490], [30, 10, 350, 500]]
    typed = [", ".join(map(str, box)) for box in boxes]
    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda box: predict(server, ASTRONAUT, box), typed))
    seconds = time.perf_counter() - start
    for box, result in zip(boxes, results, strict=True):
        check_result(result, people=1)
        assert result[2]["people"][0]["bbox"] == box  # each client got its own answer
    print(f"4 concurrent requests answered in {seconds:.1f} s")


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    if browser is None or not Path(driver).is_file():
        pytest.skip("chromium and chromium-driver are not installed (apt-get install them)")
    return browser, driver


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1450",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # offline but the server
        "--use-angle=swiftshader",  # WebGL on the CPU for the 3D view
        "--enable-unsafe-swiftshader",
    ):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": 0}
    )
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _page(browser, status_selector: str, dump: Path | None = None):
    """wait(condition, seconds) until it is truthy, find(css) the elements, status() the text
    of the status line at status_selector, clear(component) its file back (Clear clicked until
    the file input returns: a click that lands while the page re-renders is lost). When a wait
    times out, the screenshot and the page's HTML go to dump (a folder) to say what it showed."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(condition, seconds=60):
        try:
            return WebDriverWait(browser, seconds, poll_frequency=0.25).until(lambda _: condition())
        except TimeoutException:
            if dump is not None:
                browser.save_screenshot(str(dump / "timed_out.png"))
                (dump / "timed_out.html").write_text(browser.page_source)
                print(f"the page when the wait timed out: {dump}/timed_out.png, .html")
            raise

    def find(selector):
        return browser.find_elements(By.CSS_SELECTOR, selector)

    def status():
        return " ".join(e.text for e in find(status_selector))

    def clear(component):
        def cleared():
            inputs = find(f"{component} input[type=file]")
            if not inputs:
                for button in find(f"{component} button[aria-label='Clear']"):
                    # gone or covered while the page re-renders: the next poll clicks again
                    with contextlib.suppress(WebDriverException):
                        button.click()
            return inputs

        return wait(cleared)

    return wait, find, status, clear


def test_page_in_a_real_browser(server, browser, tmp_path):
    wait, find, status, clear = _page(browser, "#status", tmp_path)

    browser.get(server)
    upload = wait(lambda: find("#photo input[type=file]"))[0]
    upload.send_keys(str(ASTRONAUT))  # runs at once; the detector misses her (a seated crop)
    wait(lambda: "astronaut.jpg" in status())
    if "No person found" in status():
        find("#boxes textarea")[0].send_keys(ASTRONAUT_BOX)
        find("#run")[0].click()
    wait(lambda: "1 person" in status())
    widths = lambda: [int(i.get_attribute("naturalWidth")) for i in find("#overlay img")]  # noqa: E731
    wait(lambda: any(widths()))  # the overlay image has loaded
    assert widths() == [512]
    wait(lambda: _drawn(find("#viewer canvas")), seconds=90)  # WebGL has drawn the bodies
    time.sleep(1.0)  # the camera settles
    assert not _changes(find("#viewer canvas")[0])  # a still scene stays still (see the video)

    link = wait(lambda: [a for a in find("#downloads a") if ".glb" in a.get_attribute("href")])
    link[0].click()
    glb = wait(lambda: [p for p in browser.downloads.glob("*.glb")], seconds=30)[0]
    trimesh = pytest.importorskip("trimesh")
    assert len(trimesh.load(glb, process=False).geometry) == 1
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("OPENHMR_SCREENSHOT"):  # docs/images/serve_page.png is made this way
        browser.save_screenshot(os.environ["OPENHMR_SCREENSHOT"])

    notes = tmp_path / "notes.txt"
    notes.write_text("these are notes, not a photo\n")
    clear("#photo")[0].send_keys(str(notes))  # the file input comes back
    wait(lambda: "notes.txt is not an image" in status())
    assert "Could not process the photo" in status()
    assert not find("#overlay img[src]")  # the old result is gone
    hosts = {urlparse(url).hostname for url in _requested(browser)}
    assert hosts <= {"127.0.0.1", None}, f"the page fetched from elsewhere: {hosts}"


def test_video_in_a_real_browser(server, browser, tmp_path):
    """The Video tab: a clip in; the overlay video plays, the animated 3D view's frames
    change over time (the still photo's do not: above), the downloads are offered."""
    wait, find, status, clear = _page(browser, "#clip-status", tmp_path)

    browser.get(server)
    tab = wait(lambda: [b for b in find("button[role=tab]") if b.text.strip() == "Video"])
    tab[0].click()
    notes = tmp_path / "notes.txt"
    notes.write_text("these are notes, not a video\n")
    wait(lambda: find("#clip input[type=file]"))[0].send_keys(str(notes))
    wait(lambda: "notes.txt is not a video" in status())
    assert "Could not process the video" in status()

    clip = small_clip(tmp_path / "walk.mp4")
    clear("#clip")[0].send_keys(str(clip))  # runs at once
    wait(lambda: "1 person tracked over 8 frames" in status(), seconds=120)
    playing = (
        "const v = document.querySelector('#clip-overlay video');"
        "return v && [v.readyState, v.currentTime, v.videoWidth];"
    )
    wait(lambda: (browser.execute_script(playing) or [0])[0] >= 2)  # the overlay has loaded
    first = browser.execute_script(playing)
    wait(lambda: browser.execute_script(playing)[1] != first[1], seconds=10)  # ...and plays
    assert first[2] == 320
    wait(lambda: _drawn(find("#clip-viewer canvas")), seconds=90)
    time.sleep(1.0)  # the camera settles, as for the photo
    assert _changes(find("#clip-viewer canvas")[0])  # the bodies move: the animation plays

    def names():
        return sorted(
            Path(urlparse(a.get_attribute("href")).path).name for a in find("#clip-downloads a")
        )

    wait(lambda: len(names()) == 3)
    assert names() == ["walk_track0.bvh", "walk_track0.npz", "walk_tracks.glb"]
    link = [a for a in find("#clip-downloads a") if ".npz" in a.get_attribute("href")]
    link[0].click()
    npz = wait(lambda: list(browser.downloads.glob("*.npz")), seconds=30)[0]
    with np.load(npz) as track:
        assert track["pose"].shape == (CLIP_FRAMES, 24, 3)
    browser.save_screenshot(str(tmp_path / "video_page.png"))
    if os.environ.get("OPENHMR_VIDEO_SCREENSHOT"):  # docs/images/serve_video.png
        browser.save_screenshot(os.environ["OPENHMR_VIDEO_SCREENSHOT"])
    hosts = {urlparse(url).hostname for url in _requested(browser)}
    assert hosts <= {"127.0.0.1", None}, f"the page fetched from elsewhere: {hosts}"


def _changes(canvas, pauses: tuple[float, ...] = (0.15, 0.3, 0.45)) -> bool:
    """Whether screenshots of a canvas taken `pauses` apart differ from the first (in 0.1% of
    its pixels); unequal pauses, so that a looping animation is not caught at one phase."""
    import io

    def shot():
        return np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("L"))

    first = shot()
    moved = []
    for pause in pauses:
        time.sleep(pause)
        moved.append((np.abs(shot().astype(int) - first) > 40).mean())
    return max(moved) > 0.001


def _drawn(canvases) -> bool:
    """Whether a canvas shows something besides its background (a screenshot of it)."""
    import io

    for canvas in canvases:
        pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("L"))
        if pixels.size and (np.abs(pixels.astype(int) - int(np.median(pixels))) > 40).mean() > 0.01:
            return True
    return False


def _requested(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(("data:", "blob:")):
                urls.append(url)
    return urls
