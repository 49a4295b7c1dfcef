"""Small helpers shared by the command-line entry points: one-line errors and argument types."""
import argparse
import importlib
import logging
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


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


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
