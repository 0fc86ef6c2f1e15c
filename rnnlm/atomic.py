"""Files written so that a crash, a kill or a power cut leaves the old file or the new one,
never half of one: write a temporary name beside the file, put its bytes on the disk, rename.
The run directory (runs.py, checkpoints.py) and the tokenizer files use this one way."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMPORARY = ".tmp-"  # the prefix of every file written before its rename


def fsync(path) -> None:
    """A file's bytes (or a folder's names) on the disk: a rename done before them can leave
    the new name on an empty file after a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, write) -> None:
    """``write(tmp_path)`` (bytes: written as they are), then rename over ``path``. The same
    folder, so the rename is atomic; the temporary name ends with the final one, so a leftover
    says what it was for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(write, bytes):
        data = write
        write = lambda tmp: Path(tmp).write_bytes(data)  # noqa: E731
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY, suffix="-" + path.name)
    os.close(fd)
    # Only the unique name is kept: mkstemp's file is 0600, which would make a shared run's
    # files unreadable to everyone else, and h5py refuses to open an existing empty file.
    os.unlink(tmp)
    try:
        write(tmp)
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
