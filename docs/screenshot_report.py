"""Screenshot of an object report (``python -m viewer.report``) for the docs, in headless Chromium.

``python docs/screenshot_report.py REPORT.html OUT.png [--width 1200] [--height 1600] [--scale 0.6]``

Renders the page at ``width`` x ``height`` CSS pixels (the top of the page: title, map, first rows),
shrinks it by ``scale`` and writes a compressed PNG. Needs the Debian package ``chromium``.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2


def render(page, png, width, height):
    """Screenshot ``page`` (an HTML file) into ``png`` with headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshot_report.py: error: chromium not found (apt-get install chromium)")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", f"--window-size={width},{height}", Path(page).resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def shrink(png, out, scale):
    """Write ``png`` shrunk by ``scale`` to ``out`` with the strongest PNG compression."""
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1600)
    parser.add_argument("--scale", type=float, default=0.6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        full = Path(folder) / "full.png"
        render(args.page, full, args.width, args.height)
        shrink(full, args.out, args.scale)
    print(f"{args.out}: {Path(args.out).stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
