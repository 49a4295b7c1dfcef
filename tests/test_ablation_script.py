"""``benchmarks/ablation.sh``: copies side by side share the runs through lock folders, and a copy that
ends never releases another copy's lock (a run would then be trained twice at once)."""
import os
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ablation.sh"


def fake_python(folder):
    """A ``python`` that records its arguments and takes 3 s for seed 1's run, none for the others."""
    path = folder / "bin" / "python"
    path.parent.mkdir()
    path.write_text('#!/usr/bin/env bash\necho "$*" >> "$CALLS"\ncase "$*" in *-s1.pt*) sleep 3;; esac\n')
    path.chmod(0o755)
    return dict(os.environ, PATH=f"{path.parent}{os.pathsep}{os.environ['PATH']}", CALLS=str(folder / "calls"),
                VARIANTS="full")


def test_copies_share_runs_and_keep_each_others_locks(tmp_path):
    env = fake_python(tmp_path)
    out = tmp_path / "runs"
    slow = subprocess.Popen(["bash", str(SCRIPT), str(out), "3", "1"], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 10
    while not (out / "full-s1.pt.lock").is_dir() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / "full-s1.pt.lock").is_dir()
    fast = subprocess.run(["bash", str(SCRIPT), str(out), "3", "0", "1"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert fast.returncode == 0, fast.stderr
    assert "skipping" in fast.stdout and "full-s1.pt" in fast.stdout  # seed 1 is the other copy's
    assert (out / "full-s0.pt.done").exists() and not (out / "full-s0.pt.lock").exists()
    assert slow.poll() is None and (out / "full-s1.pt.lock").is_dir()  # still held by the running copy
    assert slow.wait(timeout=30) == 0
    assert (out / "full-s1.pt.done").exists() and not (out / "full-s1.pt.lock").exists()
    calls = (tmp_path / "calls").read_text().splitlines()
    assert sum("full-s1.pt" in c for c in calls) == 1 and sum("full-s0.pt" in c for c in calls) == 1
    assert all("--resume" in c and "--epochs 3" in c for c in calls)
    again = subprocess.run(["bash", str(SCRIPT), str(out), "3", "0", "1"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and len((tmp_path / "calls").read_text().splitlines()) == 2  # finished: skipped
