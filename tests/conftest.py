import subprocess
import sys

import pytest

from reid.data.generate import generate_scene


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory):
    """A generated 30-frame 96x72 scene (depth at 64x48), shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("generated")
    generate_scene(root, index=0, seed=123, frames=30, size=(96, 72), depth_size=(64, 48))
    return root


@pytest.fixture
def run_module():
    """Run ``python -m ...`` and return the completed process (text output)."""
    def run(*args, cwd=None):
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    return run
