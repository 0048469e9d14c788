"""Screenshot of the web viewer on a real photo (for results/viewer/): starts `sdpic serve`, uploads the
photo in headless Chromium (Debian's chromium + chromedriver via Selenium), waits for the analysis and
saves the page plus the numbers it shows.

    .venv/bin/python benchmarks/viewer_screenshot.py --photo ../shared/data/kodak/kodim23.png --quality 40 \
        --out runs/viewer/kodim23   (Kodak is read by path; its screenshots are not committed)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=ROOT / "src/sdpic/samples/astronaut.png")
    parser.add_argument("--quality", type=float, default=40.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results/viewer/viewer")
    parser.add_argument("--left", default="jpeg", help="codec on the left of the split")
    parser.add_argument("--saliency-overlay", action="store_true")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen([sys.executable, "-m", "sdpic.cli", "serve", "--port", "0"], stdout=subprocess.PIPE,
                              text=True, env=env)
    driver = None
    try:
        url = re.search(r"http://\S+/", server.stdout.readline()).group(0)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1250", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.state === 'idle'"))
        driver.execute_script("const q = document.getElementById('quality'); q.value = arguments[0];"
                              "q.dispatchEvent(new Event('input'));", int(args.quality))
        start = time.perf_counter()
        driver.find_element(By.ID, "file").send_keys(str(args.photo.resolve()))
        WebDriverWait(driver, 300, 0.2).until(
            lambda d: d.execute_script("return ['done', 'error'].includes(document.body.dataset.state)"))
        seconds = time.perf_counter() - start
        error = driver.find_element(By.ID, "error")
        if error.is_displayed():
            print(f"viewer error: {error.text}", file=sys.stderr)
            return 1
        driver.execute_script("const s = document.getElementById('leftSel'); s.value = arguments[0];"
                              "s.dispatchEvent(new Event('change'));", args.left)
        if args.saliency_overlay:
            driver.find_element(By.ID, "salToggle").click()
        time.sleep(0.5)  # let the swapped image paint
        rows = {}
        for row in driver.find_elements(By.CSS_SELECTOR, "#metrics tbody tr"):
            rows[row.get_attribute("data-codec")] = {
                cell.get_attribute("class"): cell.text for cell in row.find_elements(By.TAG_NAME, "td")}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.get_screenshot_as_file(str(args.out.with_suffix(".png")))
        record = {"photo": args.photo.name, "quality": args.quality, "seconds_in_browser": round(seconds, 2),
                  "table": rows}
        args.out.with_suffix(".json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return 0
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
