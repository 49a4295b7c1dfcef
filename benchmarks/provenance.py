"""What made a results file: the command line, the date and the machine, recorded beside the figures
so that ``python -m benchmarks.report`` can print them (a table never outlives its provenance)."""
import datetime
import os
import platform
import shlex
import sys

__all__ = ["run_facts", "stamp_rows"]


def run_facts(module):
    """``{"command", "date", "machine"}`` of the running harness.

    Parameters
    ----------
    module : str
        The harness's module, e.g. ``"benchmarks.reid"`` (the command is ``python -m MODULE ARGS``).
    """
    try:
        import torch
        torch_text = f", torch {torch.__version__} with {torch.get_num_threads()} threads"
        if torch.cuda.is_available():
            torch_text += f", {torch.cuda.get_device_name(0)}"
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_text = ""
    except RuntimeError:  # CUDA reported but no driver answers: the machine line goes without the GPU name
        torch_text = ""
    return {"command": f"python -m {module} " + shlex.join(sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs{torch_text}"}


def stamp_rows(rows, module):
    """Add :func:`run_facts` to every row that does not record them yet (rows kept from an earlier run
    keep theirs). Returns ``rows``."""
    facts = run_facts(module)
    for row in rows:
        for key, value in facts.items():
            row.setdefault(key, value)
    return rows
