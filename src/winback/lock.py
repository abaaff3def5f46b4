"""One run at a time per state database: an exclusive lock that the second run does not wait for.

The lock is an OS file lock (the ``filelock`` library: ``flock`` on Unix), so it is released by the
kernel when the process ends, even after ``kill -9``: a crashed run never leaves a stale lock. Next to
the lock file, ``<lock>.owner`` says who holds it (PID and start time) so the second run can say so;
it is informational only and written atomically.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from winback.errors import OutputError, RunLockedError


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextlib.contextmanager
def run_lock(path: Path, *, started_at: datetime) -> Iterator[None]:
    """Hold the lock at ``path`` for the block; raise :class:`RunLockedError` at once if it is taken."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the state folder {path.parent} ({exc.strerror}). Choose another "
                          "place with --state.") from None
    from filelock import FileLock, Timeout  # here: a run without --state does not pay its import

    lock = FileLock(str(path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise RunLockedError(f"another winback run is in progress ({_holder(path)}); try again later. "
                             f"Lock file: {path}") from None
    try:
        _write_owner(path, started_at)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(_owner_path(path))
        lock.release()


def _owner_path(path: Path) -> Path:
    return path.with_name(path.name + ".owner")


def _write_owner(path: Path, started_at: datetime) -> None:
    text = f"{os.getpid()} {started_at.isoformat(timespec='seconds')}\n"
    with contextlib.suppress(OSError):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, _owner_path(path))


def _holder(path: Path) -> str:
    try:
        pid, since = _owner_path(path).read_text().split()[:2]
    except (OSError, ValueError):
        return "lock held by another process"
    return f"lock held by PID {pid}, since {since}"
