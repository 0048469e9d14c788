"""End to end in headless Chromium (Debian's chromium + chromedriver, driven by Selenium): upload a photo,
check the images and numbers that appear, move the split, zoom, toggle the saliency overlay, download
links, and a clear error for a bad file.

Set SDPIC_VIEWER_SCREENSHOT=path.png to keep a screenshot (results/viewer/README.md has the command).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

import sdpic

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver`; "
           "`make test` installs them when run as root)")


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", "--hide-scrollbars"):
        options.add_argument(flag)
    try:  # the system chromedriver: Selenium Manager would try to download one, and there is no internet
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.skip(f"chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def _image_ok(driver, element_id: str) -> dict:
    return driver.execute_script(
        "const i = document.getElementById(arguments[0]);"
        "return {complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, src: i.src};", element_id)


def test_upload_compare_and_download(browser, server_url: str, photo_png: bytes, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    photo = tmp_path / "photo.png"
    photo.write_bytes(photo_png)
    browser.get(server_url)
    _wait(browser, lambda d: "MP" in d.find_element(By.ID, "limits").text)  # /api/info answered
    browser.execute_script("const q = document.getElementById('quality'); q.value = 15;"
                           "q.dispatchEvent(new Event('input'));")
    browser.find_element(By.ID, "file").send_keys(str(photo))  # choosing a file starts the analysis
    state = _wait(browser, lambda d: d.execute_script(
        "const s = document.body.dataset.state; return s === 'done' || s === 'error' ? s : null;"))
    assert state == "done", browser.find_element(By.ID, "error").text

    # images: both sides and the overlay are the photo's size
    for element_id in ("imgA", "imgB", "imgSal"):
        img = _image_ok(browser, element_id)
        assert img["complete"] and (img["w"], img["h"]) == (128, 96), (element_id, img)
    assert _image_ok(browser, "imgB")["src"].endswith("/sdpic.png")
    assert browser.find_element(By.ID, "tagB").text == "sdpic"

    # numbers in the table agree with the file the page offers for download
    rows = {row.get_attribute("data-codec"): row for row in browser.find_elements(By.CSS_SELECTOR, "#metrics tbody tr")}
    assert set(rows) == {"original", "sdpic", "avif", "jpeg"}
    href = browser.find_element(By.ID, "dlSdpic").get_attribute("href")
    with urllib.request.urlopen(href, timeout=30) as response:
        stream = response.read()
    assert sdpic.decompress(stream).size == (128, 96)
    cell = {name: {c.get_attribute("class"): c.text for c in row.find_elements(By.TAG_NAME, "td")}
            for name, row in rows.items()}
    assert float(cell["sdpic"]["bpp"]) == pytest.approx(len(stream) * 8 / (128 * 96), abs=6e-4)
    for name in ("sdpic", "avif", "jpeg"):
        assert 10 < float(cell[name]["psnr"]) < 100 and float(cell[name]["lpips_alex"]) > 0
    assert cell["original"]["psnr"] == "—"
    assert browser.find_element(By.ID, "dlPng").get_attribute("href").endswith("/decoded.png")

    # the split follows a drag of the divider
    viewer = browser.find_element(By.ID, "viewer")
    divider = browser.find_element(By.ID, "divider")
    before = browser.execute_script("return document.getElementById('layerB').style.clipPath")
    ActionChains(browser).click_and_hold(divider).move_by_offset(-viewer.size["width"] // 4, 0).release().perform()
    after = browser.execute_script("return document.getElementById('layerB').style.clipPath")
    assert before != after and int(divider.get_attribute("aria-valuenow")) < 40

    # zoom buttons change the transform; the saliency overlay toggles
    browser.find_element(By.ID, "zoomIn").click()
    zoomed = browser.find_element(By.ID, "zoomValue").text
    browser.find_element(By.ID, "zoom1").click()
    assert browser.find_element(By.ID, "zoomValue").text == "100%" and zoomed != "100%"
    browser.find_element(By.ID, "zoomFit").click()
    assert not browser.find_element(By.ID, "layerSal").is_displayed()
    browser.find_element(By.ID, "salToggle").click()
    assert browser.find_element(By.ID, "layerSal").is_displayed()

    # the left side can show another codec
    browser.execute_script("const s = document.getElementById('leftSel'); s.value = 'avif';"
                           "s.dispatchEvent(new Event('change'));")
    _wait(browser, lambda d: _image_ok(d, "imgA")["src"].endswith("/avif.png") and _image_ok(d, "imgA")["complete"])
    browser.find_element(By.ID, "salToggle").click()

    screenshot = os.environ.get("SDPIC_VIEWER_SCREENSHOT")
    target = Path(screenshot) if screenshot else tmp_path / "viewer.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    assert browser.get_screenshot_as_file(str(target))
    if screenshot:  # keep the numbers the screenshot shows beside it
        target.with_suffix(".json").write_text(json.dumps(cell, indent=2, ensure_ascii=False) + "\n")


def test_a_bad_file_shows_a_clear_error(browser, server_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are notes, not a picture")
    browser.get(server_url)
    _wait(browser, lambda d: d.execute_script("return document.body.dataset.state === 'idle'"))
    browser.find_element(By.ID, "file").send_keys(str(bad))
    _wait(browser, lambda d: d.execute_script("return document.body.dataset.state === 'error'"))
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed() and "not an image" in error.text
