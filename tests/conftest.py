import socket
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


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """An untrained tiny early-fusion checkpoint: enough to exercise the pipelines quickly."""
    import torch
    from reid.checkpoint import save_checkpoint
    from reid.model import ReIDConfig, create_model
    torch.manual_seed(0)   # the same untrained weights in every session
    config = ReIDConfig(variant="early-fusion", img_size=32, embed_dim=16,
                        trunk_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, create_model(config), config)
    return path


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory, tiny_checkpoint):
    """A generated 40-frame 96x72 scene for the benchmark harnesses, and the tiny checkpoint."""
    root = tmp_path_factory.mktemp("bench")
    generate_scene(root, index=0, seed=11, frames=40, size=(96, 72))
    return root, tiny_checkpoint


@pytest.fixture
def run_module():
    """Run ``python -m ...`` and return the completed process (text output)."""
    def run(*args, cwd=None):
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    return run


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on: bound to port 0, read back, released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
