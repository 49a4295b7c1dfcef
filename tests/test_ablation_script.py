"""``benchmarks/ablation.sh``: copies side by side share the runs through lock folders, and a copy that
ends never releases another copy's lock (a run would then be trained twice at once)."""
import os
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ablation.sh"


def fake_python(folder):
    """A ``python`` that records its arguments and takes 3 s for seed 1's run, none for the others."""
    path = folder / "bin" / "python"
    path.parent.mkdir()
    path.write_text('#!/usr/bin/env bash\necho "$*" >> "$CALLS"\ncase "$*" in *-s1.pt*) sleep 3;; esac\n')
    path.chmod(0o755)
    return dict(os.environ, PATH=f"{path.parent}{os.pathsep}{os.environ['PATH']}", CALLS=str(folder / "calls"),
                VARIANTS="full")


@pytest.mark.slow  # waits for a 3 s run
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


def test_one_copy_trains_each_run_once_and_skips_finished_ones(tmp_path):
    env = dict(fake_python(tmp_path), VARIANTS="full concat")
    out = tmp_path / "runs"
    done = subprocess.run(["bash", str(SCRIPT), str(out), "2", "0", "2"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split("--out ")[1].split()[0] for c in calls] == [str(out / f"{v}-s{s}.pt")
                                                                 for s in (0, 2) for v in ("full", "concat")]
    assert all("-m reid.train" in c and "--epochs 2" in c and "--resume" in c for c in calls)
    assert all(f"--variant {v} " in calls[i] for i, v in enumerate(("full", "concat", "full", "concat")))
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".log") == sorted(
        f"{v}-s{s}.pt.done" for s in (0, 2) for v in ("full", "concat"))    # every lock released
    again = subprocess.run(["bash", str(SCRIPT), str(out), "2", "0", "2"], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=30)
    assert again.returncode == 0 and len((tmp_path / "calls").read_text().splitlines()) == 4   # all done: skipped
