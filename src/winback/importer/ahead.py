"""Reading ahead: the orders file parsed while the command line is still starting.

Once numpy and Arrow are loaded, the rest of the start-up (pandas, typer and pydantic, winback's
own modules, then typer's parse of the options) takes about 0.3 s on one core, holding the
interpreter lock; only then does the fast reader know what to parse. Arrow's parse needs no
interpreter lock. So :func:`start`, called by the command line between the two, guesses from the
first line of the first large file named on the command line what the fast reader will ask of
:func:`winback.importer.parts.read_columns` (the delimiter, the number of fields, the columns with
a role and which of them to dictionary-encode) and makes that call in a thread.

The fast reader hands its own call to :func:`take`: the thread's result is used only when the call
is the same and the file has not changed since (device, inode, size and modification time, before
and after the parse); else it is dropped before the file is read as before. A wrong guess (a
``--map`` that names other columns, a header the thorough reader reads otherwise, a file that is not
an orders file) costs a parse beside the imports, never a wrong read.
:func:`forget` drops what was not taken once the orders are loaded.
"""

from __future__ import annotations

import csv
import os
import stat
import threading
from dataclasses import dataclass

from winback._memory import named_files
from winback.errors import InputDataError
from winback.importer.parts import CANDIDATES, read_columns, wanted_columns
from winback.importer.roles import assign_roles

#: Smaller files are not read ahead: their parse takes a few tens of milliseconds.
MIN_BYTES = 16 << 20
#: The head of the file its first line is looked for in.
_HEAD_BYTES = 64 << 10


@dataclass
class _Read:
    thread: threading.Thread | None = None
    key: tuple | None = None  # the file's identity and read_columns' arguments, once parsed
    result: tuple | None = None  # what read_columns returned


_started: dict[tuple[int, int], _Read] = {}  # by the file's (device, inode)


def start(arguments: list[str], written: tuple[str, ...] = ()) -> threading.Thread | None:
    """Parse the first large orders file named among a command's ``arguments``
    (:func:`named_files` with ``written``) in a thread, as the fast reader is guessed to ask for it
    (the guess is made here, from the file's first line: a file it finds nothing in, such as a
    customers file, is passed over); the thread, or None when there is nothing to read ahead."""
    for path in named_files(arguments, written):
        try:
            status = os.stat(path)
            if not stat.S_ISREG(status.st_mode) or status.st_size < MIN_BYTES:
                continue
            guess = _guess(path)
        except (OSError, ValueError, csv.Error):  # (not UTF-8, not delimited text: not such a file)
            continue
        if guess is None:
            continue
        read = _Read()
        read.thread = threading.Thread(target=_read, args=(path, status, guess, read),
                                       name="winback-ahead", daemon=True)
        _started[status.st_dev, status.st_ino] = read
        read.thread.start()
        return read.thread
    return None


def take(path: str, delimiter: str, n_fields: int, wanted: list[int],
         dictionary: set[int]) -> tuple | None:
    """What ``read_columns(path, delimiter, n_fields, wanted, dictionary)`` returns, if that call
    was made ahead on the file as it is now (waiting for it to finish); else None."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    read = _started.pop((status.st_dev, status.st_ino), None)
    if read is None:
        return None
    if read.thread is not None:
        read.thread.join()
    if read.key != (_identity(status), delimiter, n_fields, tuple(wanted), frozenset(dictionary)):
        return None
    return read.result


def drop(path: str) -> None:
    """Drop the read ahead of ``path``, if any: the fast reader does not read it (a thread still
    parsing drops its result when done)."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return
    _started.pop((status.st_dev, status.st_ino), None)


def forget() -> None:
    """Drop every read ahead not taken, as :func:`drop`."""
    _started.clear()


def _read(path: str, before: os.stat_result, guess: tuple[str, int, list[int], set[int]],
          read: _Read) -> None:
    delimiter, n_fields, wanted, dictionary = guess
    try:
        result = read_columns(path, delimiter, n_fields, wanted, dictionary)
        if _identity(os.stat(path)) != _identity(before):
            return
    except Exception:  # a failed guess costs nothing: the file is read as before
        return
    read.key = (_identity(before), delimiter, n_fields, tuple(wanted), frozenset(dictionary))
    read.result = result


def _guess(path: str) -> tuple[str, int, list[int], set[int]] | None:
    """From the file's first line: the delimiter (the candidate it holds most of), its number of
    fields, and the columns the fast reader would parse with the roles their names give."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
    line, found, _ = head.partition(b"\n")
    if not found:
        return None
    text = line.decode("utf-8-sig").removesuffix("\r")
    delimiter = max(CANDIDATES, key=text.count)
    if delimiter not in text:
        return None
    fields = next(csv.reader([text], delimiter=delimiter, quotechar='"'))
    headers = list(fields)
    while headers and not headers[-1].strip():  # trailing delimiters: fields without a name
        headers.pop()
    try:
        roles = assign_roles(headers, {}, path)  # (no customer id or date column: an error)
    except InputDataError:
        return None
    if "currency" in roles:  # the fast reader leaves such files to the thorough reader
        return None
    wanted, dictionary, _ = wanted_columns(len(headers), len(fields), roles)
    return delimiter, len(fields), wanted, dictionary


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns
