"""Plotting helpers shared by the benchmark harnesses (matplotlib, Agg backend, atomic writes)."""
import io
import math

from reid.cli import MissingDependencyError, fail, import_optional
from reid.fileio import atomic_output


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed); a
    :class:`reid.cli.MissingDependencyError` naming the ``bench`` extra when matplotlib is not installed."""
    matplotlib = import_optional("matplotlib", "drawing the benchmark figures", "bench")
    matplotlib.use("Agg", force=True)
    return import_optional("matplotlib.pyplot", "drawing the benchmark figures", "bench")


def require_matplotlib(prog):
    """Exit with one error line naming the ``bench`` extra when matplotlib is missing: called by the
    harnesses that draw a figure, before their long work."""
    try:
        pyplot()
    except MissingDependencyError as error:
        fail(prog, str(error))


def save_figure(figure, path, dpi=120):
    """Write a figure as PNG atomically (readers never see a partial file) and close it."""
    plt = pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    with atomic_output(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def finite(value):
    """Whether ``value`` is a real, finite number (None and NaN are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cmc_figure(curves, title="CMC"):
    """CMC curves: ``curves`` maps a method name to its rank-1..K accuracies (a list, NaN/None allowed)."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        ranks = [k + 1 for k, v in enumerate(values) if finite(v)]
        points = [v for v in values if finite(v)]
        if points:
            axis.plot(ranks, points, marker=".", markersize=3, label=name)
    axis.set_xlabel("rank")
    axis.set_ylabel("matching rate (CMC)")
    axis.set_ylim(0, 1.02)
    axis.set_xlim(1, max([len(v) for v in curves.values()] + [2]))
    axis.grid(alpha=0.3)
    axis.set_title(title)
    if curves:
        axis.legend(fontsize=8, loc="lower right")
    return figure
