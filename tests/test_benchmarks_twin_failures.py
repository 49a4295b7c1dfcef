"""``python -m benchmarks.twin_failures``: which twin queries fail, by class and by viewpoint change."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from reid.dataset import ObjectView
from reid.views import ViewSet

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks package lives beside reid/ and tracker/
    sys.path.insert(0, str(REPO))

from benchmarks.twin_failures import summarise, twin_failures  # noqa: E402


def _direction(degrees):
    angle = np.radians(degrees)
    return np.array([np.sin(angle), 0.0, np.cos(angle)])


def test_a_twin_closer_than_the_other_pass_is_a_failure_with_its_viewpoint_change():
    # two identical chairs (instances 1 and 2), each seen in two camera passes, and a table (no twin)
    views = [ObjectView("s", frame, instance, label, (0, 0, 10, 10), 100, episode)
             for frame, instance, label, episode in [(0, 1, 5, 0), (50, 1, 5, 1), (0, 2, 5, 0), (50, 2, 5, 1),
                                                     (0, 3, 7, 0), (50, 3, 7, 1)]]
    view_set = ViewSet(views, {}, np.array([True, True, True, True, False, False]))
    features = np.array([[1.0, 0.0], [0.0, 1.0],        # chair 1: its two passes look different ...
                         [0.9, 0.1], [0.1, 0.9],        # ... and chair 2's passes look like them
                         [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    directions = np.stack([_direction(0), _direction(20), _direction(0), _direction(40),
                           _direction(0), _direction(0)])
    outcomes = {o["query"]: o for o in twin_failures(features, view_set, directions)}
    assert sorted(outcomes) == [0, 1, 2, 3]                       # the table is no twin query
    assert not outcomes[0]["correct"] and outcomes[0]["first"] == 2 and outcomes[0]["right"] == 1
    assert outcomes[0]["first_distance"] < outcomes[0]["right_distance"]
    assert np.isclose(outcomes[0]["angle"], 20.0) and np.isclose(outcomes[2]["angle"], 40.0)
    assert all(not o["correct"] for o in outcomes.values())       # each pass is closest to the twin's same pass
    summary = summarise(list(outcomes.values()), view_set)
    assert summary["all"] == {"queries": 4, "rank1": 0.0}
    by_angle = {e["degrees"]: e["queries"] for e in summary["by_angle"]}
    assert by_angle["15-30"] == 2 and by_angle["30-60"] == 2 and sum(by_angle.values()) == 4
    features[1] = features[0]                                     # chair 1's passes now alike
    outcomes = {o["query"]: o for o in twin_failures(features, view_set, directions)}
    assert outcomes[0]["correct"] and outcomes[1]["correct"]


@pytest.mark.slow
def test_cli_writes_tables_failures_and_picture(bench_data, run_module, tmp_path):
    root, _ = bench_data
    out = tmp_path / "out"
    result = run_module("benchmarks.twin_failures", "--data", str(root), "--method", "colour-histogram",
                        "--frame-step", "2", "--episode-gap", "5", "--min-side", "6", "--out", str(out), cwd=REPO)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["all"]["queries"] > 0                          # this room has identical chairs
    assert results["all"]["queries"] == sum(e["queries"] for e in results["by_angle"])
    assert results["all"]["queries"] == sum(e["queries"] for e in results["by_class"])
    assert all(e["degrees"] != "pose unknown" for e in results["by_angle"])   # the generated scene has poses
    failures = results["failures"]
    assert len(failures) == round(results["all"]["queries"] * (1 - (results["all"]["rank1"] or 0)))
    assert (out / "twin_failures.png").exists() == bool(failures)
    assert "rank-1" in (out / "results.md").read_text()


@pytest.mark.slow
def test_cli_bad_data_is_one_line(run_module, tmp_path):
    result = run_module("benchmarks.twin_failures", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"),
                        cwd=REPO)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "twin_failures" in result.stderr
