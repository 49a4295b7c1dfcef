"""Small helpers shared by the command-line entry points: one-line errors and argument types."""
import argparse
import importlib
import logging
import os
import sys


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors are one line (``prog: error: ...``), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_size(text):
    """``"320x240"`` -> ``(320, 240)``; an argparse error naming the text otherwise."""
    parts = str(text).lower().split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 320x240") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return width, height


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


REID_SPEC_HELP = ("a shipped model ('default', 'dinov2-concat', 'dinov2-full', 'dinov2-concat-full'), a checkpoint "
                  "path, variant:NAME (untrained), or A+B:W, two of these as one (W: A's share of the squared "
                  "distance, e.g. default+dinov2-concat-full:0.8)")
"""What ``--reid`` reads (``reid.embedder.Embedder.from_spec``)."""

PRECISIONS = ("float32", "float16", "bfloat16", "int8")
"""The embedder's inference precisions (``reid.embedder.PRECISIONS``; here without importing torch)."""


def add_precision_argument(parser, nargs=None, note=""):
    """``--precision``: the embedder's inference precision(s), one of :data:`PRECISIONS` each."""
    parser.add_argument("--precision", choices=PRECISIONS, nargs=nargs,
                        help="embedder precision: float32 (default), bfloat16 (CUDA, or a CPU with AVX512-BF16/AMX), "
                             "float16 (CUDA), int8 (backend onnxruntime: weights quantised to int8)" + note)


BACKENDS = ("torch", "onnxruntime")
"""The embedder's inference backends (``reid.embedder.BACKENDS``): ``torch``, or ``onnxruntime`` (the
model exported to ONNX and run by ONNX Runtime; CPU, float32 or int8, optional packages)."""

ONNX_RUNTIME_PRECISIONS = ("float32", "int8")
"""The precisions backend ``onnxruntime`` runs: the exported float32 graph, or its dynamically quantised
int8 copy (``reid.onnx_runtime.quantize_int8``); torch runs the others of :data:`PRECISIONS`."""


def add_backend_argument(parser, nargs=None, note=""):
    """``--backend``: the embedder's inference backend(s), one of :data:`BACKENDS` each."""
    parser.add_argument("--backend", choices=BACKENDS, nargs=nargs,
                        help="embedder backend: torch (default) or onnxruntime (CPU, float32 or int8; needs the packages "
                             "onnxruntime and onnx)" + note)


# ------------------------------------------------------------------------------------------ threads

THREAD_ENVIRONMENT = {"GOMP_SPINCOUNT": "1000"}
"""Environment set by :func:`prepare_thread_environment` (each variable only where it is not set already).

``GOMP_SPINCOUNT=1000``: torch's OpenMP threads (libgomp) spin at most 1,000 pause instructions when they
wait (at the barrier that ends each parallel operation, or for the next one) before they sleep, instead
of libgomp's default 300,000. A 100-frame run of the demo room waits some 38,000 times. On a machine
whose cores are busy a long-spinning thread takes the CPU from the thread it waits for: beside 3 busy
processes on 2 cores the 100-frame run used 45-145 s of CPU time with libgomp's default against 16-20 s
with short spins or none, and took 2-10x as long (``python -m benchmarks.speed --load 3``). Not spinning
at all (``OMP_WAIT_POLICY=PASSIVE``) is as good loaded but costs ~20 % alone on an idle machine (150
frames: 17.2 frames/s against 21.6 with the default, median of 3); 1,000 spins cost ~6 % (20.4) and
loaded are as good as passive (100 frames beside 3 busy processes: 26.5 / 27.6 s against 26.4 / 26.1 s).
libgomp reads the variable once, when torch loads it, so it must be in the environment before ``import
torch``; a user's own ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is left as it is."""

_environment_before_torch = False   # whether prepare_thread_environment ran before torch was imported


def available_cpus():
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def add_threads_argument(parser):
    """``--threads N``: the thread policy of :func:`configure_threads` (0: the libraries' defaults)."""
    parser.add_argument("--threads", type=non_negative_int, metavar="N",
                        help="CPU threads for torch (default: OMP_NUM_THREADS when set, else the CPUs this process "
                             "may use), with idle OpenMP threads spinning briefly before they sleep (GOMP_SPINCOUNT="
                             "1000 unless set) and OpenCV single-threaded, so that a busy machine slows the run "
                             "down in proportion instead of stalling it; 0 leaves torch, OpenMP and OpenCV at "
                             "their defaults")


class _ThreadsOnly(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)


def threads_from_argv(argv):
    """``--threads`` from a command line that has not been parsed yet (None when absent or malformed: the
    command's own parser reports the error), for :func:`prepare_thread_environment` before torch loads."""
    parser = _ThreadsOnly(add_help=False)
    parser.add_argument("--threads", type=non_negative_int)
    try:
        return parser.parse_known_args(list(argv))[0].threads
    except ValueError:
        return None


def prepare_thread_environment(threads=None):
    """The environment part of :func:`configure_threads`: :data:`THREAD_ENVIRONMENT` into ``os.environ``
    (variables already set are left as they are). OpenMP reads it when torch loads it, so this does
    something only before torch is imported (afterwards it would change nothing here and only reach child
    processes), and nothing with ``threads=0``; returns whether it set the environment up."""
    global _environment_before_torch
    if threads == 0 or "torch" in sys.modules:
        return False
    if "OMP_WAIT_POLICY" not in os.environ:         # a user's own wait policy decides (GOMP_SPINCOUNT would override it)
        for key, value in THREAD_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
    _environment_before_torch = True
    return True


def configure_threads(threads=None):
    """The command lines' thread policy, for a process about to run the embedder on the CPU.

    ``threads``: torch's intra-op threads; None: ``OMP_NUM_THREADS`` when it is set, else
    :func:`available_cpus`; 0: change nothing (the libraries' defaults). Unless 0, also
    :func:`prepare_thread_environment` (OpenMP threads spin briefly, then sleep; that acts only before torch is
    imported, so ``python -m tracker.run`` calls it first thing, at the top of its module, and here it
    changes nothing where torch came first, e.g. ``tracker.run.main`` called in a process) and
    ``cv2.setNumThreads(1)`` (the crops are small; OpenCV's pool would compete with torch's threads).
    numpy's OpenBLAS is left as it is: numpy is loaded before any command line can act, and its threads
    idle here (under 0.1 s of CPU time in a 100-frame run).

    Called by the command lines only (``python -m tracker.run``): importing the packages changes nothing.
    Returns what was applied: ``threads``, ``torch_threads``, ``omp_spin_count`` (the environment's GOMP_SPINCOUNT, None
    if unset), ``wait_policy_effective`` (whether :func:`prepare_thread_environment` ran before torch was
    imported; None with ``threads=0``), ``opencv_threads``.
    """
    if threads == 0:
        import torch
        return {"threads": 0, "torch_threads": torch.get_num_threads(),
                "omp_spin_count": os.environ.get("GOMP_SPINCOUNT"), "wait_policy_effective": None,
                "opencv_threads": None}
    prepare_thread_environment(threads)
    if threads is None:
        try:
            threads = int(os.environ.get("OMP_NUM_THREADS", ""))
        except ValueError:
            threads = 0
        threads = threads if threads > 0 else available_cpus()
    import cv2
    import torch
    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    return {"threads": threads, "torch_threads": torch.get_num_threads(),
            "omp_spin_count": os.environ.get("GOMP_SPINCOUNT"), "wait_policy_effective": _environment_before_torch,
            "opencv_threads": cv2.getNumThreads()}


def setup_logging(quiet=False):
    """Warnings (and info unless ``quiet``) to stderr as ``LEVEL: message`` lines."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(levelname)s: %(message)s",
                        stream=sys.stderr)


class MissingDependencyError(ImportError):
    """An optional package is not installed; the message is one line that names the extra installing it."""


def import_optional(module, purpose, extra):
    """``importlib.import_module(module)``, or :class:`MissingDependencyError` when its package is not
    installed, e.g. "the scene generator needs pybullet: pip install 'where-did-i-see-it[generate]'".
    An ImportError from inside an installed package is raised as it is."""
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.split(".")[0] != package:
            raise
        raise MissingDependencyError(f"{purpose} needs {package}: pip install 'where-did-i-see-it[{extra}]'") from error


def fail(prog, message, code=2):
    """Print one error line and exit."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)
