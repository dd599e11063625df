"""The picture of a report on the getting-started page, made by landers' own commands.

    PYTHONPATH=src python docs/gen_report_shot.py      # or: make docs-curves

Trains PPO on CartPole-v1 with its preset (`landers train ppo CartPole-v1 --report`, seconds),
opens the report in headless Chromium (as tests/see/test_outputs.py does) and saves the top of
the page as docs/assets/report.png. The run stays in build/, which git ignores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "assets" / "report.png"


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    run = ROOT / "build" / "docs-report" / "cartpole"
    shutil.rmtree(run.parent, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "landers", "train", "ppo", "CartPole-v1", "--seed", "1", "--run-dir", str(run),
                    "--report", "--quiet"], cwd=ROOT, check=True)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1300"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        browser.get((run / "report.html").as_uri())
        browser.save_screenshot(str(OUT))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
