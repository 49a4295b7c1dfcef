"""``python -m benchmarks.report``: one section per results file, with the harness's numbers, its
command as far as the results record it, machine and date; one-line errors for files it cannot report."""
import json
from types import SimpleNamespace

import pytest

from benchmarks import report, reid


def reid_row(method, rooms, rank1, mAP, twins):
    """A row as ``benchmarks.reid`` writes it (its own ``empty_row``, filled in as ``summary_row`` does)."""
    row = reid.empty_row(method, "ok", [f"{method} notes"])
    for key in reid.METRICS:
        row[key], row[f"{key}_std"] = 0.5, 0.01
    row.update(rank1=rank1, rank1_std=0.027, mAP=mAP, mAP_std=0.028, rank1_twins=twins, rank1_twins_std=0.055,
               cmc=[rank1] + [0.99] * 49, queries=1348, queries_twins=309, views=1425, dim=128, seconds=1.0,
               rooms=rooms)
    return row


def tracking_row(tracker, scene, idf1, kept, returns, rooms="in-style", **extra):
    """A row as ``benchmarks.tracking`` writes it (``score_scenes``' keys and those ``main`` adds)."""
    row = {"tracker": tracker, "scene": scene, "HOTA": idf1 - 0.01, "DetA": 0.9, "AssA": 0.9, "IDF1": idf1,
           "IDP": 0.9, "IDR": 0.9, "MOTA": 0.95, "MOTP": 1.0, "IDSW": 3, "FP": 0, "FN": 10,
           "revisit_accuracy": kept / returns, "revisits": returns, "revisits_kept": kept,
           "revisits_without_output": 0, "fps": 7.5, "frames": 400, "scored_frames": 400, "seconds": 53.0,
           "detect_seconds": 0.6, "embed_seconds": 50.0, "ids": 40, "gt_objects": 38, "rooms": rooms,
           "photometric": None}
    row.update(extra)
    return row


def write_json(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def table_row(text, *first_cells):
    """The cells of the one markdown table row of ``text`` that starts with ``first_cells``."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    found = [row for row in rows if row[:len(first_cells)] == list(first_cells)]
    assert len(found) == 1, (first_cells, found)
    return found[0]


def run_report(capsys, *args):
    report.main([str(arg) for arg in args])
    return capsys.readouterr().out


def test_reid_results_written_by_the_harness(tmp_path, capsys):
    rows = [reid_row("default", "in-style", 0.937, 0.868, 0.928),
            reid_row("colour-histogram", "in-style", 0.518, 0.425, 0.648),
            reid_row("default", "unseen-style", 0.836, 0.796, 0.611),
            reid_row("colour-histogram", "unseen-style", 0.429, 0.344, 0.366)]
    context = dict(data="in-style=a unseen-style=b", scenes="scene0000_00", frame_step=5, episode_gap=30, folds=3,
                   machine="x86_64, 2 CPUs", room_sets={"in-style": "a", "unseen-style": "b"})
    reid.write_outputs(tmp_path / "styles-reid", rows, context)
    text = run_report(capsys, tmp_path / "styles-reid" / "results.json")

    assert text.startswith("# Benchmark results\n") and text.count("\n## ") == 1
    assert f"## Re-ID: rank-k, mAP, twins rank-1: `{tmp_path / 'styles-reid' / 'results.json'}`" in text
    assert (f"`python -m benchmarks.reid --data in-style=ROOT unseen-style=ROOT --methods default colour-histogram "
            f"--out {tmp_path / 'styles-reid'}`") in text
    assert "- Machine: not recorded\n- Date: not recorded" in text
    in_style, unseen = text.split("### Rooms `in-style`")[1].split("### Rooms `unseen-style`")
    assert {"0.937±0.027", "0.868±0.028", "0.928±0.055", "1348"} <= set(table_row(in_style, "default", "ok"))
    assert {"0.429±0.027", "0.344±0.028", "0.366±0.055"} <= set(table_row(unseen, "colour-histogram", "ok"))
    side_by_side = table_row(text, "default", "0.937±0.027")                    # the room sets side by side
    assert {"0.836±0.027", "0.611±0.055", "-0.101", "-0.317"} <= set(side_by_side)
    assert {"0.839", "0.946", "0.994"} <= set(table_row(text, "concat"))      # the paper's own row


def test_tracking_means_settings_and_command(tmp_path, capsys):
    settings = dict(config_overrides={"world_gate_metres": 0.5},
                    photometric="exposure N(0, 0.5) stops, white balance (red, blue) N(0, 0.125) stops per frame, "
                                "seed 0")
    rows = [tracking_row("ours", "scene0000_00", 0.98, 39, 39, **settings),
            tracking_row("ours", "scene0001_00", 0.96, 35, 40, **settings),
            tracking_row("deepsort", "scene0000_00", 0.50, 0, 39, photometric=settings["photometric"]),
            tracking_row("deepsort", "scene0001_00", 0.48, 0, 40, photometric=settings["photometric"])]
    path = write_json(tmp_path / "tracking" / "results.json", rows)
    text = run_report(capsys, path)

    ours_mean = table_row(text, "**ours**", "**mean**")
    assert {"**0.970**", "**0.960**", "**0.950**", "**3.0**", "**74/79**"} <= set(ours_mean)
    assert "**0/79**" in table_row(text, "**deepsort**", "**mean**")
    assert "0.480" in table_row(text, "deepsort", "scene0001_00")
    assert ("`python -m benchmarks.tracking --data in-style=ROOT --trackers ours,deepsort --fps-frames 0 "
            "--set world_gate_metres=0.5 --photometric 0.5") in text


def test_robustness_levels_and_command(tmp_path, capsys):
    from benchmarks.noise import NoiseConfig
    from benchmarks.robustness import measured_noise, run_settings
    args = SimpleNamespace(scenes=["scene0000_00"], seed=0, only=None, frame_step=1, max_frames=None, min_gap=100,
                           revisit_window=10, reid="default", data=str(tmp_path / "bench"))
    settings = run_settings(args, ["ours", "deepsort"], {})
    stats = dict(frames=400, clean=2400, missed=360, confused=20, false_positives=200, output=2240)
    rows = []
    for level, ours, theirs in ((0.0, 0.976, 0.497), (0.5, 0.794, 0.370)):
        for tracker, idf1 in (("ours", ours), ("deepsort", theirs)):
            rows.append({"level": level, **tracking_row(tracker, "scene0000_00", idf1, 30, 39),
                         "noise": NoiseConfig.from_level(level).as_dict(), "noise_measured": measured_noise(stats),
                         "settings": settings})
    path = write_json(tmp_path / "robustness" / "results.json", rows)
    text = run_report(capsys, path)

    assert "## Tracking under detection noise:" in text and "# Robustness to detection noise" not in text
    assert "0.794" in table_row(text, "ours", "0.50") and "0.497" in table_row(text, "deepsort", "0.00")
    assert (f"`python -m benchmarks.robustness --data {tmp_path / 'bench'} --scenes scene0000_00 --levels 0 0.5 "
            f"--trackers ours,deepsort --out {tmp_path / 'robustness'}`") in text


def test_generator_machine_and_command(tmp_path, capsys):
    rows = [{"setting": setting, "split": split, "room": "scene0000_00", "textures": "photo",
             "camera_preset": "dslr-sharp" if split else None, "frames": 200, "seconds": seconds,
             "frames_per_second": 200 / seconds}
            for setting, split, seconds in (("version 2", None, 6.4), ("train", "train", 9.3), ("val", "val", 8.8),
                                            ("val, perfect depth", "val", 8.5))]
    context = dict(rooms=1, frames=200, size="320x240", seed=0, pinning="pinned to core 1",
                   machine="x86_64, 2 CPUs, Linux")
    path = write_json(tmp_path / "generator-speed" / "results.json", {"context": context, "rows": rows})
    text = run_report(capsys, path)

    assert "- Machine: x86_64, 2 CPUs, Linux\n- Date: not recorded" in text
    assert table_row(text, "version 2")[1:] == ["1", "31.2", "31.2", "31.2"] and "21.5" in table_row(text, "train")
    assert (f"`python -m benchmarks.generator --out {tmp_path / 'generator-speed'} --rooms 1 --frames 200 "
            f"--size 320x240 --seed 0 --core 1`") in text


def test_speed_tables_machine_and_command(tmp_path, capsys):
    machine = dict(platform="Linux", machine="x86_64", python="3.11", cpu_count=2, cpus_usable=2, torch="2.5",
                   torch_threads=2, numpy="2.0", OMP_NUM_THREADS=None, device="cpu", cuda_device=None,
                   load_average_1min_at_start=0.5, faiss=False, load_average_1min_at_end=0.6)
    embedder = {"model": "shipped default model", "variant": "early-fusion", "trunk": "vit", "img_size": 112,
                "dim": 128, "images_per_object": 2, "device": "cpu", "notes": [],
                "rows": [{"batch_size": 8, "objects_per_s": 114.3, "images_per_s": 228.6, "ms_per_batch": 70.0,
                          "precision": "float32"}]}
    settings = dict(quick=False, repeats=3, live=[10, 50], gallery_sizes=[1000], frames=64, new_per_frame=2, dim=128,
                    bank_size=100, batch_sizes=[8], min_objects=64, model="default", scene=None, root=None,
                    max_frames=30, no_positions=False, nn_budget=None, baseline=None, precision=None,
                    train_batch=[16, 4], train_steps=3, compile=False, backend=None)
    result = {"machine": machine, "settings": settings, "tracker": {"skipped": "--skip tracker"}, "embedder": embedder,
              "training": {"skipped": "--skip training"}, "end_to_end": {"skipped": "no --scene given"}}
    path = write_json(tmp_path / "speed" / "speed.json", result)
    text = run_report(capsys, path)

    assert "## Speed and scaling:" in text and "```text" in text and "114.3" in text
    assert "- Machine: x86_64, 2 CPUs (2 usable), torch 2.5 with 2 threads, device cpu\n" in text
    assert "--repeats 3 --live 10 50 --gallery-sizes 1000" in text and "--skip tracker training`" in text


def test_cmc_picture_from_the_reid_files(tmp_path, capsys):
    reid.write_outputs(tmp_path / "r", [reid_row("default", None, 0.9, 0.8, 0.7)],
                       dict(data="a", scenes="s", frame_step=5, episode_gap=30, folds=3, machine="m"))
    run_report(capsys, tmp_path / "r" / "results.json", "--cmc", tmp_path / "cmc.png")
    assert (tmp_path / "cmc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content, message", [
    ('{"hello": 1}', "not a results file of a known benchmark"),
    ("[]", "not a results file of a known benchmark"),
    ('[{"tracker": "ours"}]', "not a results file of a known benchmark"),
    ("{not json", "not valid JSON"),
])
def test_a_file_it_cannot_report_is_a_one_line_error_and_nothing_is_printed(tmp_path, capsys, content, message):
    good = write_json(tmp_path / "good" / "results.json",
                      {"context": {"machine": "m"}, "rows": [{"setting": "train", "frames_per_second": 20.0}]})
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(good), str(bad)])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"python -m benchmarks.report: error: {bad}: ") and message in err


def test_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(tmp_path / "nowhere.json")])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == "" and err.count("\n") == 1 and "nowhere.json: cannot read" in err


def test_a_recorded_command_date_and_machine_are_printed_as_recorded(tmp_path, monkeypatch):
    from benchmarks.provenance import stamp_rows
    from benchmarks.report import report
    monkeypatch.setattr("sys.argv", ["reid.py", "--data", "rooms=data/x", "--out", str(tmp_path)])
    rows = stamp_rows([reid.empty_row("colour-histogram", "skipped", ["not run"])], "benchmarks.reid")
    assert rows[0]["command"] == f"python -m benchmarks.reid --data rooms=data/x --out {tmp_path}"
    kept = stamp_rows([{"method": "x", "status": "ok", "date": "2020-01-01 00:00 UTC"}], "benchmarks.reid")
    assert kept[0]["date"] == "2020-01-01 00:00 UTC"              # a row from an earlier run keeps its date
    path = tmp_path / "results.json"
    path.write_text(json.dumps(rows))
    text = report([str(path)])
    assert f"`python -m benchmarks.reid --data rooms=data/x --out {tmp_path}`" in text
    assert rows[0]["date"] in text and rows[0]["machine"] in text
