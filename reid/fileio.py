"""Atomic file writing: a temporary file in the same folder, then a rename."""
import json
import os
import tempfile
from pathlib import Path


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
