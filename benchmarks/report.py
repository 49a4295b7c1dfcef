"""Markdown report of benchmark results files, for ``docs/benchmarks.md``.

``python -m benchmarks.report RESULTS.json [RESULTS.json ...] [--cmc PNG] > docs/benchmarks.md``

Each file is recognised by its structure as the output of one harness:

``benchmarks.reid``
    ``OUT/results.json``: a list of rows with ``method`` and ``status``.
``benchmarks.tracking``
    ``OUT/results.json``: a list of rows with ``tracker``, ``scene`` and ``IDF1``, without ``level``.
``benchmarks.robustness``
    ``OUT/results.json``: a list of rows with ``level``, ``tracker`` and ``scene``.
``benchmarks.generator``
    ``OUT/results.json``: ``{"context": ..., "rows": [...]}``, rows with ``frames_per_second``.
``benchmarks.speed``
    ``OUT/speed.json``: ``{"machine": ..., "settings": ..., "tracker": ..., ...}``.

For each file it prints one section: the command that produced it, as far as the results record it
(the room folders, which they do not record, stand as ``ROOT``), the machine and the date
when the results record them (else "not recorded"), and the harness's own tables, made by the
harness's own table functions from the rows. ``--cmc PNG`` also draws the CMC curves of the re-ID
files into ``PNG`` (the README's picture).

Every file is read and recognised before anything is printed: an unreadable file or one that no
harness wrote is a one-line error naming it, exit status 2, and nothing on stdout.
"""
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reid.cli import ArgumentParser, fail

PROG = "python -m benchmarks.report"
PLACEHOLDER = "ROOT"      # stands for a room folder, which no results file records


class ReportError(Exception):
    """A results file that cannot be reported; the message names the file."""


# ------------------------------------------------------------------------------------------- reading

def load_results(path):
    """The JSON content of ``path``.

    Raises
    ------
    ReportError
        The file cannot be read or is not JSON (the message names it).
    """
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise ReportError(f"{path}: cannot read it ({error.strerror or error})") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ReportError(f"{path}: not valid JSON ({error})") from None


def result_rows(results):
    """``results`` when it is a non-empty list of dicts (the row lists the harnesses write), else None."""
    if isinstance(results, list) and results and all(isinstance(row, dict) for row in results):
        return results
    return None


def rows_with(results, keys, without=()):
    """Whether ``results`` is a row list whose every row has all of ``keys`` and none of ``without``."""
    rows = result_rows(results)
    return rows is not None and all(set(keys) <= row.keys() and not set(without) & row.keys() for row in rows)


def is_reid(results):
    """Whether ``results`` is ``benchmarks.reid``'s: rows with ``method`` and ``status``."""
    return rows_with(results, ("method", "status"))


def is_tracking(results):
    """Whether ``results`` is ``benchmarks.tracking``'s: rows with ``tracker``, ``scene``, ``IDF1``, no ``level``."""
    return rows_with(results, ("tracker", "scene", "IDF1"), without=("level",))


def is_robustness(results):
    """Whether ``results`` is ``benchmarks.robustness``'s: tracking rows with a noise ``level``."""
    return rows_with(results, ("level", "tracker", "scene"))


def is_generator(results):
    """Whether ``results`` is ``benchmarks.generator``'s: ``context`` and rows with ``frames_per_second``."""
    return (isinstance(results, dict) and isinstance(results.get("context"), dict)
            and rows_with(results.get("rows"), ("setting", "frames_per_second")))


SPEED_PARTS = ("tracker", "embedder", "training", "end_to_end")


def is_speed(results):
    """Whether ``results`` is ``benchmarks.speed``'s ``speed.json``: machine facts, settings and parts."""
    return (isinstance(results, dict) and isinstance(results.get("machine"), dict)
            and isinstance(results.get("settings"), dict) and any(part in results for part in SPEED_PARTS))


# ------------------------------------------------------------------------------------------- facts

def recorded_fact(results, key):
    """``key`` as the results record it: at the top of a dict, in its ``context``, or in the first row."""
    if isinstance(results, dict):
        context = results.get("context")
        return results.get(key, context.get(key) if isinstance(context, dict) else None)
    rows = result_rows(results)
    return rows[0].get(key) if rows else None


def machine_text(machine):
    """A recorded machine as one line: a string as it is, ``benchmarks.speed``'s facts summarised."""
    if isinstance(machine, str) and machine:
        return machine
    if isinstance(machine, dict):
        text = (f"{machine.get('machine')}, {machine.get('cpu_count')} CPUs ({machine.get('cpus_usable')} usable), "
                f"torch {machine.get('torch')} with {machine.get('torch_threads')} threads, "
                f"device {machine.get('device')}")
        return text + (f" ({machine['cuda_device']})" if machine.get("cuda_device") else "")
    return "not recorded"


def room_set_data(rows):
    """``--data`` of a harness that scores labelled room sets: ``LABEL=ROOT`` per set (``ROOT`` alone
    when unlabelled); the roots themselves are not recorded."""
    labels = dict.fromkeys(row.get("rooms") for row in rows)
    return [f"{label}={PLACEHOLDER}" if label else PLACEHOLDER for label in labels]


def command_line(module, arguments):
    """``python -m MODULE`` followed by ``arguments`` (strings or lists of strings), shell-quoted."""
    words = []
    for argument in arguments:
        words += argument if isinstance(argument, list) else [argument]
    return shlex.join(["python", "-m", module] + words)


def option(flag, value):
    """``[flag, value...]`` for a recorded value (a list gives several words), ``[]`` for None or False."""
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    return [flag] + [str(v) for v in value] if isinstance(value, (list, tuple)) else [flag, str(value)]


def overrides_option(overrides):
    """``--set KEY=VALUE ...`` of recorded ``config_overrides`` (label lists comma-separated)."""
    items = [f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"
             for key, value in (overrides or {}).items()]
    return ["--set"] + items if items else []


def photometric_option(description):
    """``--photometric LEVEL [--photometric-seed S]`` from :meth:`PhotometricChange.describe`'s text."""
    match = re.search(r"exposure N\(0, ([^)]+)\) stops.*seed (-?\d+)", description or "")
    if not match:
        return []
    level, seed = match.groups()
    return ["--photometric", level] + (["--photometric-seed", seed] if seed != "0" else [])


def first_our_row(rows):
    """The first row that carries our tracker's recorded settings, else the first row."""
    return next((row for row in rows if row.get("config_overrides") is not None), rows[0])


# ------------------------------------------------------------------------------------------- commands

def reid_command(rows, folder):
    """``benchmarks.reid``'s command: room-set labels, methods in row order, checkpoints of extra rows."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    sources = {row["method"]: row["source"] for row in rows if row.get("source")}
    checkpoints = [["--checkpoint", f"{method}={source}"] for method, source in sources.items()]
    return command_line("benchmarks.reid", ["--data", room_set_data(rows), "--methods", methods,
                                            *checkpoints, "--out", folder])


def tracking_command(rows, folder):
    """``benchmarks.tracking``'s command: room-set labels, trackers, our settings, the frame change."""
    trackers = list(dict.fromkeys(row["tracker"] for row in rows))
    ours = first_our_row(rows)
    timed_alone = len(trackers) == 1 or any("fps_shared" in row for row in rows)
    return command_line("benchmarks.tracking", ["--data", room_set_data(rows), "--trackers", ",".join(trackers),
                                                option("--fps-frames", None if timed_alone else 0),
                                                overrides_option(ours.get("config_overrides")),
                                                photometric_option(ours.get("photometric")), "--out", folder])


def robustness_command(rows, folder):
    """``benchmarks.robustness``'s command from the run settings every row records, and the levels."""
    settings = rows[0].get("settings") or {}
    levels = [f"{level:g}" for level in dict.fromkeys(row["level"] for row in rows)]

    def non_default(key, default):
        return None if settings.get(key) == default else settings.get(key)

    return command_line("benchmarks.robustness", [
        "--data", settings.get("data") or PLACEHOLDER, option("--scenes", settings.get("scenes")), "--levels", levels,
        option("--only", settings.get("kinds")), option("--trackers", ",".join(settings.get("trackers") or []) or None),
        option("--seed", non_default("seed", 0)), option("--frame-step", non_default("frame_step", 1)),
        option("--max-frames", settings.get("max_frames")), option("--min-gap", non_default("min_gap", 100)),
        option("--revisit-window", non_default("window", 10)), option("--reid", non_default("reid", "default")),
        overrides_option(settings.get("config_overrides")), "--out", folder])


def generator_command(results, folder):
    """``benchmarks.generator``'s command from its recorded context."""
    context = results["context"]
    core = re.match(r"pinned to core (\d+)", context.get("pinning", ""))
    return command_line("benchmarks.generator", [
        "--out", folder, option("--rooms", context.get("rooms")), option("--frames", context.get("frames")),
        option("--size", context.get("size")), option("--seed", context.get("seed")),
        option("--core", core.group(1) if core else None)])


SPEED_OPTIONS = ("quick", "repeats", "live", "gallery_sizes", "frames", "new_per_frame", "dim", "bank_size",
                 "batch_sizes", "min_objects", "model", "scene", "root", "max_frames", "no_positions", "nn_budget",
                 "baseline", "precision", "train_batch", "train_steps", "compile", "backend")


def speed_command(results, folder):
    """``benchmarks.speed``'s command from its recorded settings and the parts it skipped."""
    settings = results["settings"]
    skipped = [part.replace("_", "-") for part in SPEED_PARTS
               if str((results.get(part) or {}).get("skipped", "")).startswith("--skip")]
    return command_line("benchmarks.speed", ["--out", folder]
                        + [option(f"--{name.replace('_', '-')}", settings.get(name)) for name in SPEED_OPTIONS]
                        + [option("--skip", skipped or None)])


# ------------------------------------------------------------------------------------------- tables

def demoted(lines):
    """Markdown ``lines`` with every heading one level deeper (a harness's sections under ours)."""
    return [("#" + line) if line.startswith("#") else line for line in lines]


def without_title(text):
    """A harness's markdown without its leading ``# Title`` line, as lines."""
    lines = text.splitlines()
    return lines[1:] if lines and lines[0].startswith("# ") else lines


def reid_tables(rows):
    """``benchmarks.reid``'s tables: rows per room set, the sets side by side, the paper's, seeds."""
    from benchmarks import reid
    lines = []
    for label in dict.fromkeys(row.get("rooms") for row in rows):
        lines += ([f"### Rooms `{label}`", ""] if label is not None else [])
        lines += reid._markdown_rows([row for row in rows if row.get("rooms") == label]) + [""]
    lines += demoted(reid.room_set_lines(rows))
    lines += demoted(reid.twins_by_class_lines(rows))
    lines += ["", "### The paper's figures (real ScanNet, their Tables 2-4)", ""] + reid.paper_table_lines()
    return lines + demoted(reid.seed_lines(reid.seed_summary(rows)))


def tracking_tables(rows):
    """``benchmarks.tracking``'s tables: the room sets side by side, then per scene with means."""
    from benchmarks import tracking
    lines = demoted(tracking.room_set_table(rows))
    for label in dict.fromkeys(row.get("rooms") for row in rows):
        title = f"### Rooms `{label}`" if label is not None else "### Per scene"
        lines += tracking.markdown_table([row for row in rows if row.get("rooms") == label], title=title).splitlines()
        lines.append("")
    return lines


def robustness_tables(rows):
    """``benchmarks.robustness``'s tables: noise per level, then means per tracker and level."""
    from benchmarks import robustness
    return without_title(robustness.markdown_table(rows))


def generator_tables(results):
    """``benchmarks.generator``'s tables: frames/s per setting and per texture family."""
    from benchmarks import generator
    return without_title(generator.markdown(results["rows"], results["context"]))


def speed_tables(results):
    """``benchmarks.speed``'s printed tables, as a text block."""
    from benchmarks import speed
    lines = []
    speed.print_tables(results, echo=lambda text: lines.extend(str(text).splitlines()))
    return ["```text"] + lines + ["```"]


# ------------------------------------------------------------------------------------------- report

@dataclass(frozen=True)
class Harness:
    """How to recognise one harness's results and report them."""

    module: str
    title: str
    recognises: Callable
    command: Callable
    tables: Callable


HARNESSES = (
    Harness("benchmarks.reid", "Re-ID: rank-k, mAP, twins rank-1", is_reid, reid_command, reid_tables),
    Harness("benchmarks.robustness", "Tracking under detection noise", is_robustness, robustness_command,
            robustness_tables),
    Harness("benchmarks.tracking", "Tracking: ours against the peers", is_tracking, tracking_command,
            tracking_tables),
    Harness("benchmarks.generator", "Generator speed", is_generator, generator_command, generator_tables),
    Harness("benchmarks.speed", "Speed and scaling", is_speed, speed_command, speed_tables),
)


def recognise(path, results):
    """The :class:`Harness` that wrote ``results``.

    Raises
    ------
    ReportError
        No harness writes files like it (the message names the file).
    """
    for harness in HARNESSES:
        if harness.recognises(results):
            return harness
    known = ", ".join(harness.module for harness in HARNESSES)
    raise ReportError(f"{path}: not a results file of a known benchmark ({known})")


def section(path, harness, results):
    """One file's markdown section: title, command, machine, date, then the harness's tables."""
    folder = str(Path(path).parent)
    command = recorded_fact(results, "command") or harness.command(results, folder)
    note = f" ({PLACEHOLDER}: a room folder, not recorded in the results)" if PLACEHOLDER in command else ""
    lines = [f"## {harness.title}: `{path}`", "",
             f"- Command{note}: `{command}`",
             f"- Machine: {machine_text(recorded_fact(results, 'machine'))}",
             f"- Date: {recorded_fact(results, 'date') or 'not recorded'}", ""]
    return lines + harness.tables(results) + [""]


def report(paths):
    """The whole report as markdown text.

    Raises
    ------
    ReportError
        A file is unreadable or not recognised; raised before any section is made.
    """
    loaded = []
    for path in paths:
        results = load_results(path)
        loaded.append((path, recognise(path, results), results))
    lines = ["# Benchmark results", "",
             f"Generated by `{command_line('benchmarks.report', list(paths))} > docs/benchmarks.md` from the "
             "harnesses' results files; do not edit by hand. How each benchmark works and what its figures mean: "
             "[README](../README.md), [re-ID](reid.md), [tracking](tracking.md); the commands that make the rooms "
             "(`ROOT` below): [reid.md](reid.md#benchmark-rooms).", ""]
    for path, harness, results in loaded:
        lines += section(path, harness, results)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip("\n") + "\n"


def cmc_curves(paths):
    """``{"method (rooms)": CMC list}`` of every ok row of the re-ID files among ``paths``."""
    curves = {}
    for path in paths:
        rows = load_results(path)
        if is_reid(rows):
            curves.update({row["method"] + (f" ({row['rooms']})" if row.get("rooms") else ""): row["cmc"]
                           for row in rows if row["status"] == "ok" and row.get("cmc")})
    return curves


def draw_cmc(paths, png):
    """Draw the CMC curves of the re-ID files among ``paths`` into ``png``."""
    from .plots import cmc_figure, save_figure
    curves = cmc_curves(paths)
    if not curves:
        raise ReportError(f"--cmc {png}: none of the files holds re-ID CMC curves")
    save_figure(cmc_figure(curves, title="CMC: rank-k matching rate, query against other camera passes"), png)


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", metavar="RESULTS.json",
                        help="results files of benchmarks.reid, tracking, robustness, generator (results.json) "
                             "or speed (speed.json)")
    parser.add_argument("--cmc", metavar="PNG", help="also draw the re-ID files' CMC curves into this PNG")
    args = parser.parse_args(argv)
    try:
        text = report(args.results)
        if args.cmc:
            draw_cmc(args.results, args.cmc)
    except ReportError as error:
        fail(PROG, str(error))
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
