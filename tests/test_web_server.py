"""`openhmr serve` as a user and a script meet it: the server started as a subprocess on a free
loopback port, the page driven in Debian's headless chromium (Selenium with chromium-driver;
skipped when either is missing), and the `predict` endpoint called with gradio_client, four
clients at once.  The browser may reach nothing but the server (an offline page)."""

from __future__ import annotations

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

from tests.test_web import ASTRONAUT, ASTRONAUT_BOX, bad_uploads

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
    assert list(endpoints) == ["/predict"]  # the page's own events stay private
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


def test_page_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(condition, seconds=60):
        return WebDriverWait(browser, seconds, poll_frequency=0.25).until(lambda _: condition())

    def find(selector):
        return browser.find_elements(By.CSS_SELECTOR, selector)

    def status():
        return " ".join(e.text for e in find("#status"))

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
    find("#photo button[aria-label='Clear']")[0].click()  # the file input comes back
    upload = wait(lambda: find("#photo input[type=file]"))[0]
    upload.send_keys(str(notes))
    wait(lambda: "notes.txt is not an image" in status())
    assert "Could not process the photo" in status()
    assert not find("#overlay img[src]")  # the old result is gone
    hosts = {urlparse(url).hostname for url in _requested(browser)}
    assert hosts <= {"127.0.0.1", None}, f"the page fetched from elsewhere: {hosts}"


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
