"""``benchmarks/long_recipe.sh``: the shipped model's two-stage recipe, run for real on a tiny scene
with a tiny trunk (the stages, their settings and the fp16 exports), and resumable."""
import os
import subprocess
from pathlib import Path

import pytest

from reid.checkpoint import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "long_recipe.sh"
MODEL = '--img-size 32 --embed-dim 16 --trunk-kwargs {"depth":1,"embed_dim":32,"num_heads":2}'
BATCH = "--instances-per-batch 6 --views-per-instance 3 --device cpu"


def run_recipe(scene_root, out, python, **settings):
    env = dict(os.environ, TRAIN=str(scene_root), VAL=str(scene_root), FRAME_STEP="2", PYTHON=python,
               MODEL_ARGS=MODEL, EXTRA_ARGS=BATCH)
    env.pop("STAGE2_MINING", None)
    env.update(settings)
    return subprocess.run(["bash", str(SCRIPT), "concat", "3", str(out)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.slow  # real training runs
def test_two_stages_with_the_recipe_settings_then_nothing_to_redo(tiny_scene, tmp_path):
    import sys
    out = tmp_path / "long"
    result = run_recipe(tiny_scene, out, sys.executable)
    assert result.returncode == 0, result.stderr + (out / "concat-s3.log").read_text()
    assert result.stdout.strip() == str(out / "concat-s3-stage2-half.pt")
    stage1 = load_checkpoint(out / "concat-s3-stage1.pt").metadata
    assert [h["epoch"] for h in stage1["history"]] == list(range(1, 11))
    assert stage1["mining"] == "batch-hard" and stage1["seed"] == 3
    phase1 = load_checkpoint(out / "concat-s3-phase1.pt").metadata
    assert phase1["epoch"] == 5 and phase1["mining"] == "batch-all"
    stage2 = load_checkpoint(out / "concat-s3-stage2.pt")
    assert stage2.config.variant == "concat" and stage2.config.img_size == 32
    assert stage2.metadata["epoch"] == 5 and stage2.metadata["photometric_augment"] == 0.5
    assert stage2.metadata["mining"] == "batch-hard"
    assert stage2.metadata["lr"] == 5e-5 and stage2.metadata["init_from"]["path"].endswith("concat-s3-stage1-half.pt")
    half = load_checkpoint(out / "concat-s3-stage2-half.pt")
    assert half.optimizer_state is None
    assert all(v.dtype.is_floating_point is False or str(v.dtype) == "torch.float16"
               for v in half.state_dict.values())
    # every stage is marked done: a second run calls no python at all
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text("#!/usr/bin/env bash\nexit 7\n")
    fake.chmod(0o755)
    again = run_recipe(tiny_scene, out, str(fake))
    assert again.returncode == 0, again.stderr


@pytest.mark.slow  # real training runs
def test_stage2_mining_is_chosen_by_stage2_mining(tiny_scene, tmp_path):
    """STAGE2_MINING=batch-all (the fine-tune under which the late fusions do not collapse) changes
    stage 2 only: stage 1 keeps batch-all then batch-hard."""
    import sys
    out = tmp_path / "long"
    result = run_recipe(tiny_scene, out, sys.executable, STAGE2_MINING="batch-all")
    assert result.returncode == 0, result.stderr + (out / "concat-s3.log").read_text()
    assert load_checkpoint(out / "concat-s3-phase1.pt").metadata["mining"] == "batch-all"
    assert load_checkpoint(out / "concat-s3-stage1.pt").metadata["mining"] == "batch-hard"
    stage2 = load_checkpoint(out / "concat-s3-stage2.pt").metadata
    assert stage2["mining"] == "batch-all" and stage2["photometric_augment"] == 0.5 and stage2["epoch"] == 5


def recording_python(folder, fail_on=None):
    """A ``python`` that records its arguments in folder/calls and writes the file after ``--out`` (or
    the last argument of an export), failing on the call whose arguments contain ``fail_on``."""
    path = folder / "bin" / "python"
    path.parent.mkdir(exist_ok=True)
    path.write_text('#!/usr/bin/env bash\n'
                    f'echo "$*" >> "{folder / "calls"}"\n'
                    + (f'case "$*" in *{fail_on}*) exit 7;; esac\n' if fail_on else '')
                    + 'out="${@: -1}"\nprev=""\nfor a in "$@"; do [ "$prev" = --out ] && out="$a"; prev="$a"; done\n'
                    'touch "$out"\n')
    path.chmod(0o755)
    return str(path)


def test_the_stages_run_in_order_with_their_settings_and_resume_where_they_stopped(tmp_path):
    out = tmp_path / "long"
    python = recording_python(tmp_path, fail_on="stage2.pt")
    failed = run_recipe("train-rooms", out, python, STAGE2_MINING="batch-all")
    assert failed.returncode == 7 and not (out / "concat-s3-stage2.done").exists()
    assert (out / "concat-s3-stage1-half.done").exists()
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 4   # phase 1, stage 1, its fp16 export, then stage 2 fails
    phase1, stage1, half, stage2 = calls
    assert "-m reid.train" in phase1 and "--epochs 12 --stop-after-epoch 5 --resume" in phase1
    assert "--img-size 32" in phase1 and "--img-size" not in stage1   # MODEL_ARGS: phase 1 only
    assert "--mining batch-hard --epochs 10" in stage1 and "--seed 3" in stage1 and "--device cpu" in stage1
    assert "export_half" in half and half.endswith("concat-s3-stage1.pt " + str(out / "concat-s3-stage1-half.pt"))
    assert f"--init-from {out / 'concat-s3-stage1-half.pt'}" in stage2 and "--mining batch-all" in stage2
    assert "--photometric-augment 0.5" in stage2 and "--lr 5e-5 --warmup-steps 50 --epochs 5" in stage2
    assert all("--data train-rooms --val-data train-rooms --frame-step 2" in call for call in calls[:2] + [stage2])
    # re-run: the finished stages are skipped, stage 2 resumes and the last export follows
    done = run_recipe("train-rooms", out, recording_python(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "concat-s3-stage2-half.pt")
    again = (tmp_path / "calls").read_text().splitlines()[4:]
    assert len(again) == 2 and "--resume" in again[0] and "--mining batch-hard" in again[0]
    assert again[1].endswith(str(out / "concat-s3-stage2-half.pt"))


def test_usage_without_a_variant_and_seed():
    result = subprocess.run(["bash", str(SCRIPT), "concat"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.startswith("usage: bash benchmarks/long_recipe.sh")
