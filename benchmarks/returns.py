"""Which returns lost their ID, from a ``benchmarks.tracking`` (or ``benchmarks.robustness``) output folder.

``python -m benchmarks.returns OUT [--tracker ours] [--min-gap 100] [--window 10]`` reads
``OUT/gt/<scene>.txt`` and ``OUT/tracks/<tracker>/<scene>.txt`` and prints, per scene, each return
(an instance back in view after at least ``min-gap`` frames away) that did not get its old ID back:
the frames around the gap, the track ID before and after, and what the ID after was:

- ``new ID``: first output at the return (a new identity was started);
- ``older ID``: an identity first output earlier (the return took another object's ID, or the ID
  it had in an earlier pass, before a confusion the scorer counts at this return);
- ``no output before`` / ``no output after``: the tracker never reported the instance on one side.
"""
import sys
from argparse import ArgumentParser
from pathlib import Path

import numpy as np

from benchmarks.tracking_metrics import revisit_accuracy
from reid.cli import fail


def read_rows(path):
    """The first six columns (``frame, id, x, y, w, h``) of a MOTChallenge text file: N x 6."""
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a MOTChallenge text file ({error})") from None
    if rows.size and rows.shape[1] < 6:
        raise ValueError(f"{path}: {rows.shape[1]} columns, expected at least 6")
    return rows[:, :6] if rows.size else np.zeros((0, 6))


def lost_returns(gt, tracks, min_gap=100, window=10):
    """The returns of one sequence that did not keep their ID.

    Parameters
    ----------
    gt, tracks : ndarray, N x 6
        ``frame, id, x, y, w, h`` rows (MOT frame numbers).
    min_gap, window : int
        As in :func:`benchmarks.tracking_metrics.revisit_accuracy`.

    Returns
    -------
    score : RevisitScore
    lost : list of dict
        One per lost return: ``instance``, ``last_seen``, ``back_at``, ``id_before``, ``id_after``,
        ``kind`` (see the module docstring).
    """
    score = revisit_accuracy(gt, tracks, min_gap=min_gap, window=window)
    first_output = {}
    for frame, track_id in tracks[np.argsort(tracks[:, 0], kind="stable"), :2].astype(int).tolist():
        first_output.setdefault(track_id, frame)
    lost = []
    for result in score.returns:
        if result.kept:
            continue
        revisit = result.revisit
        if result.id_before is None:
            kind = "no output before"
        elif result.id_after is None:
            kind = "no output after"
        elif first_output[result.id_after] >= revisit.back_at:
            kind = "new ID"
        else:
            kind = "older ID"
        lost.append({"instance": revisit.instance_id, "last_seen": revisit.last_seen, "back_at": revisit.back_at,
                     "id_before": result.id_before, "id_after": result.id_after, "kind": kind})
    return score, lost


def main(argv=None):
    parser = ArgumentParser(prog="python -m benchmarks.returns", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="output folder of benchmarks.tracking (holds gt/ and tracks/)")
    parser.add_argument("--tracker", default="ours", help="row whose tracks to read (default ours)")
    parser.add_argument("--min-gap", type=int, default=100, help="frames away that make a return (default 100)")
    parser.add_argument("--window", type=int, default=10,
                        help="frames after the return in which the ID is read (default 10)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    gt_files = sorted((out / "gt").glob("*.txt"))
    if not gt_files:
        fail(parser.prog, f"{out / 'gt'}: no ground-truth files (is {out} a benchmarks.tracking output folder?)")
    kept = total = 0
    try:
        for gt_file in gt_files:
            track_file = out / "tracks" / args.tracker / gt_file.name
            if not track_file.is_file():
                fail(parser.prog, f"{track_file}: no tracks of '{args.tracker}' for {gt_file.stem}")
            score, lost = lost_returns(read_rows(gt_file), read_rows(track_file), args.min_gap, args.window)
            kept, total = kept + score.kept, total + score.count
            print(f"{gt_file.stem}: {score.kept}/{score.count} returns kept")
            for item in lost:
                print(f"  instance {item['instance']}: last seen at frame {item['last_seen']}, back at "
                      f"{item['back_at']}: ID {item['id_before']} -> {item['id_after']} ({item['kind']})")
    except ValueError as error:
        fail(parser.prog, str(error))
    print(f"all: {kept}/{total} returns kept")


if __name__ == "__main__":
    sys.exit(main())
