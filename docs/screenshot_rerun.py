"""Screenshot of a rerun recording (``tracker.run --rerun``) in the rerun viewer, for the docs.

``python docs/screenshot_rerun.py RECORDING.rrd OUT.png [--size 1280x800] [--scale 0.5]``

Opens the recording in the native viewer (``rerun --screenshot-to``) on a virtual X display (Xvfb,
software rendering through Mesa's llvmpipe), with the pointer parked in a corner so that no tooltip
shows, and writes the viewer's window shrunk by ``scale`` as a compressed, 256-colour PNG. Needs the
Debian packages ``xvfb``, ``xdotool`` and ``mesa-vulkan-drivers`` and the rerun SDK (``[viz]``).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DISPLAY = ":97"


def need(program, package):
    """Path of ``program``; exit with one line naming the Debian package when it is missing."""
    path = shutil.which(program)
    if path is None:
        sys.exit(f"screenshot_rerun.py: error: {program} not found (apt-get install {package})")
    return path


def screenshot(recording, png, size):
    """Open ``recording`` in the rerun viewer on a virtual display and save the window to ``png``."""
    rerun = shutil.which("rerun", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if rerun is None:
        sys.exit("screenshot_rerun.py: error: the rerun viewer is not installed (pip install rerun-sdk)")
    width, height = (int(v) for v in size.split("x"))
    with tempfile.TemporaryDirectory() as runtime:
        os.chmod(runtime, 0o700)
        env = dict(os.environ, DISPLAY=DISPLAY, XDG_RUNTIME_DIR=runtime)
        xvfb = subprocess.Popen([need("Xvfb", "xvfb"), DISPLAY, "-screen", "0", f"{2 * width}x{2 * height}x24"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            subprocess.run([need("xdotool", "xdotool"), "mousemove", str(2 * width - 1), str(2 * height - 1)],
                           env=env, check=True, timeout=30)
            subprocess.run([rerun, str(recording), "--screenshot-to", str(png), "--window-size", size],
                           env=env, check=True, capture_output=True, timeout=300)
        finally:
            xvfb.terminate()
            xvfb.wait()


def shrink(png, out, scale):
    """Write ``png`` shrunk by ``scale``, reduced to 256 colours, with the strongest PNG compression."""
    from PIL import Image                         # Pillow comes with matplotlib ([bench])
    image = Image.open(png).convert("RGB")
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    image.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recording")
    parser.add_argument("out")
    parser.add_argument("--size", default="1280x800", help="viewer window, logical points (default 1280x800)")
    parser.add_argument("--scale", type=float, default=0.5,
                        help="shrink the saved window (rendered at twice --size) by this factor (default 0.5)")
    args = parser.parse_args()
    if not Path(args.recording).is_file():
        sys.exit(f"screenshot_rerun.py: error: {args.recording}: no such recording")
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.png"
        screenshot(args.recording, full, args.size)
        shrink(full, args.out, args.scale)
    print(f"{args.out}: {Path(args.out).stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
