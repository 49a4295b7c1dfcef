"""The command lines' thread policy (``reid.cli.configure_threads``, ``python -m tracker.run --threads``)."""
import json
import os
import subprocess
import sys

import pytest

from reid.cli import available_cpus, threads_from_argv

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_DISPLAY_ENV")

# python -m tracker.run (run as __main__, as the command line runs it) reporting at exit what it applied
RUN_AND_REPORT = """
import atexit, json, os, runpy, sys
def report():
    import cv2, torch
    print(json.dumps({"torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
                      "wait_policy": os.environ.get("GOMP_SPINCOUNT")}))
atexit.register(report)
sys.argv = ["tracker.run", *sys.argv[1:]]
runpy.run_module("tracker.run", run_name="__main__", alter_sys=True)
"""


def clean_environment(**extra):
    """This environment without the thread variables (the tests' own settings must not leak in)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(extra)
    return env


def run(args, **env):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          env=clean_environment(**env))


def test_threads_are_read_from_an_unparsed_command_line():
    assert threads_from_argv(["scene0000_00", "--root", "data", "--threads", "3", "--quiet"]) == 3
    assert threads_from_argv(["scene0000_00", "--threads=0"]) == 0
    assert threads_from_argv(["scene0000_00", "--quiet"]) is None
    assert threads_from_argv(["scene0000_00", "--threads", "many"]) is None     # tracker.run's parser says why
    assert threads_from_argv(["scene0000_00", "--threads"]) is None
    assert available_cpus() >= 1


@pytest.mark.slow  # a torch import per run
def test_tracker_run_applies_threads_before_torch_loads_openmp(tmp_path):
    # OMP_DISPLAY_ENV makes libgomp print the settings it read when torch loaded it: GOMP_SPINCOUNT 1000 is the
    # command's short spin, in effect only when the environment was set before that import
    result = run(["-c", RUN_AND_REPORT, "missing_scene", "--root", str(tmp_path), "--threads", "1"],
                 OMP_DISPLAY_ENV="VERBOSE")
    assert result.returncode == 2 and "missing_scene" in result.stderr     # the scene error, after the set-up
    assert json.loads(result.stdout) == {"torch_threads": 1, "opencv_threads": 1, "wait_policy": "1000"}
    assert "GOMP_SPINCOUNT = '1000'" in result.stderr

    leave = run(["-c", RUN_AND_REPORT, "missing_scene", "--root", str(tmp_path), "--threads", "0"],
                OMP_DISPLAY_ENV="VERBOSE")
    assert leave.returncode == 2 and json.loads(leave.stdout)["wait_policy"] is None
    assert "GOMP_SPINCOUNT = '1000'" not in leave.stderr

    default = run(["-m", "tracker.run", "missing_scene", "--root", str(tmp_path)])   # no --quiet: still one line
    assert default.returncode == 2 and len(default.stderr.strip().splitlines()) == 1, default.stderr

    bad = run(["-m", "tracker.run", "missing_scene", "--threads", "-1"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--threads" in bad.stderr


@pytest.mark.slow  # a torch import
def test_importing_changes_nothing_and_the_default_is_the_usable_cpus():
    code = """
import json, os
import tracker.run, torch
imported = {"wait_policy": os.environ.get("GOMP_SPINCOUNT"), "torch_threads": torch.get_num_threads()}
torch.set_num_threads(1)
from reid.cli import configure_threads
applied = configure_threads()
print(json.dumps({"imported": imported, "applied": applied, "torch_threads": torch.get_num_threads(),
                  "wait_policy": os.environ.get("GOMP_SPINCOUNT")}))
"""
    result = run(["-c", code])
    assert result.returncode == 0 and not result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"]["wait_policy"] is None          # import tracker.run: the environment as it was
    assert report["applied"]["threads"] == report["torch_threads"] == available_cpus()
    # torch came first: the wait policy could not be set, so the environment is left alone (no leak to children)
    assert report["applied"]["wait_policy_effective"] is False and report["wait_policy"] is None

    one = run(["-c", "from reid.cli import configure_threads; import torch; configure_threads(); "
                     "print(torch.get_num_threads())"], OMP_NUM_THREADS="1")
    assert one.returncode == 0 and one.stdout.split() == ["1"], one.stderr  # OMP_NUM_THREADS is respected
