"""A run folder held by one command at a time (an advisory lock on the folder), and the
earlier run that --force moves aside until the new run has saved a whole epoch."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from rnnlm.errors import RnnlmError, first_line


@contextlib.contextmanager
def locked(run_dir: Path):
    """The run to itself while a command writes it: a second training or resume of the same
    folder is refused at once, rather than mixing its files with this one's. An advisory lock
    (flock) on the folder itself, which the system drops when the process ends, however it
    ends: a killed run never leaves a stale lock. The folder is made if it is not there."""
    fd = _lock(Path(run_dir))
    try:
        from rnnlm.checkpoints import finish_commit  # here: checkpoints imports runs, runs this

        finish_commit(Path(run_dir))  # what a killed command left half done
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def _lock(run_dir: Path) -> int:
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RnnlmError(f"{run_dir} is being written by another rnnlm command (a training or "
                         f"a --resume of it); wait for that to end") from None
    return fd


def finish_if_idle(run_dir: Path) -> None:
    """A reader that finds a killed command's journal finishes it when no one is writing the
    run (and it may): otherwise it reads the files as they are."""
    try:
        with locked(run_dir):
            pass  # locked() finishes it
    except (RnnlmError, OSError):
        pass


def new_folder_beside(path: Path, what: str) -> Path:
    """``.NAME.WHAT-xxxxxxxx`` made beside ``path``: never a folder that was there before, and
    with the usual permissions (mkdtemp's 0700 would leave an export unreadable to a server
    running as another user)."""
    path = Path(path)
    while True:
        folder = path.with_name(f".{path.name}.{what}-{secrets.token_hex(4)}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


class SetAside:
    """--force: the earlier run in ``out`` is moved aside while the new one is made. It is
    deleted once the new run has saved a whole epoch (``release``, which the RunWriter calls
    after the epoch's last file is written), and put back if the new one ends before that (bad
    input found while building, a loss that turned NaN, a full disk, Ctrl-C in the first
    epoch): nothing already saved is lost to a run that never came to be. A process killed
    meanwhile leaves it in ``.OUT.replaced-*`` beside, which ``runs.read_config`` then points to."""

    def __init__(self, out: Path, replace: bool):
        self.out, self.replace = Path(out).absolute(), replace
        self.aside: Path | None = None
        self.new_folder_lock: int | None = None

    def __enter__(self) -> "SetAside":
        if self.replace and self.out.exists() and any(self.out.iterdir()):
            self.aside = new_folder_beside(self.out, "replaced")
            self.out.rename(self.aside / self.out.name)
            try:
                self.new_folder_lock = _lock(self.out)  # the new folder is as locked as the old
            except BaseException as e:  # __exit__ will not run: the earlier run is seen to here
                self._unless_taken(e)
                raise
        return self

    def _unless_taken(self, error: BaseException) -> None:
        """The new folder could not be made and locked: the earlier run goes back, unless
        another command made the folder in the moment between (it is writing there now)."""
        earlier = self.aside / self.out.name
        if self.out.exists():
            raise RnnlmError(f"{first_line(error)}; the run --force was to replace is kept in "
                             f"{earlier}") from None
        earlier.rename(self.out)
        self.aside.rmdir()
        self.aside = None

    @property
    def holds_earlier_run(self) -> bool:
        return self.aside is not None

    def release(self) -> None:
        aside, self.aside = self.aside, None  # first: cut short, the new run is still kept
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def __exit__(self, error_type, error, traceback) -> bool:
        if self.new_folder_lock is not None:
            os.close(self.new_folder_lock)
        if self.aside is not None and error_type is not None:  # no whole epoch was saved
            shutil.rmtree(self.out, ignore_errors=True)
            (self.aside / self.out.name).rename(self.out)
            self.aside.rmdir()
            self.aside = None
        self.release()
        return False


def set_aside_copies(out: Path) -> list[Path]:
    """Earlier runs that a --force run killed before its first epoch left beside ``out``."""
    out = Path(out).absolute()
    return sorted(p / out.name for p in out.parent.glob(f".{out.name}.replaced-*")
                  if (p / out.name).is_dir())
