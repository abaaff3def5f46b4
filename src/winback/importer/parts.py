"""The fast reader's parse: the wanted columns of a plain delimited file, with Arrow, and a scan
of the same bytes (valid UTF-8, carriage returns, where the lines are).

It needs neither pandas nor the command's other modules, so the command line can start it while
those are still being imported (:mod:`winback.importer.ahead`); :mod:`winback.importer.fast`
checks and converts what it returns.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from winback.importer.roles import MONEY_ROLES

#: The delimiters tried (the thorough reader's dialect detection tries them in this order).
CANDIDATES = (";", ",", "\t", "|")
#: Bytes read and parsed at a time (:func:`read_columns`).
PART = 128 << 20
#: The least bytes each of the two halves of a read has (:func:`_fill`).
_FILL_HALF_MIN = 8 << 20
#: Bytes scanned at a time within a part (:class:`LineScan`).
_SCAN_CHUNK = 16 << 20
#: The line scan counts line feeds per block of this many bytes (:class:`LineIndex`).
_INDEX_BLOCK = 1 << 20


def wanted_columns(n_headers: int, n_fields: int, roles: dict[str, int]
                   ) -> tuple[list[int], set[int], bool]:
    """What the fast reader parses of a file whose header line has ``n_headers`` names and
    ``n_fields`` fields, its columns having ``roles``: (the columns, those of them
    dictionary-encoded, whether the order id is left out to be read from its rows' lines)."""
    wanted = sorted(set(roles.values()) | set(range(n_headers, n_fields)))
    # The order id only tells exact repeats apart, among the few rows whose other values repeat: it
    # is not parsed here (about 13 bytes an order), but read from those rows' lines when there are
    # any (the fast reader's _OrderIds).
    lazy_order_id = "order_id" in roles and list(roles.values()).count(roles["order_id"]) == 1
    if lazy_order_id:
        wanted.remove(roles["order_id"])
    # Dates and money columns (each read for one role only) come dictionary-encoded.
    coded = {roles[r] for r in ("order_date", *MONEY_ROLES)
             if r in roles and list(roles.values()).count(roles[r]) == 1}
    return wanted, coded, lazy_order_id


def read_columns(path: str, delimiter: str, n_fields: int, wanted: list[int],
                  dictionary: set[int]) -> tuple[pa.Table | None, bool, int, LineIndex]:
    """(the wanted columns as bytes, or None when Arrow cannot parse the file; whether the whole
    file is valid UTF-8 with no bare carriage return; its number of lines; where its lines are, to
    a block). With as many lines as records, there are no line breaks inside quotes either (Arrow
    skips or splits what the thorough reader counts).

    The file is read once, :data:`PART` bytes at a time, cut after the last line break, into one
    reused buffer: Arrow parses each part on its threads while a second thread scans the same bytes
    (:class:`LineScan`), so the check and the parse see the same bytes. (Arrow reading the path while
    the scan read the file again took about 0.3 s more CPU time at ten million rows; docs/performance.md.)

    Columns in ``dictionary`` (dates and amounts repeat a lot) are dictionary-encoded as Arrow parses
    them, so the checks and conversions run once per distinct value. Bytes, not text: the scan checks
    that the whole file is UTF-8 (every cell is then, as delimiters and quotes are ASCII), so Arrow need
    not check each cell too (a fifth of the parse's time). The fast reader makes them text
    afterwards."""
    names = [f"c{i}" for i in range(n_fields)]
    convert = convert_options(names, wanted, dictionary)
    scan = LineScan()
    try:
        tables = _read_parts(path, scan, parse_options(delimiter), convert, names)
    except OSError:
        tables = None
    if tables is None:
        return None, False, 0, scan.index()
    plain, lines = scan.result()
    if not tables:  # an empty file: nothing to parse
        return None, plain, lines, scan.index()
    return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), plain, lines, scan.index()


def parse_options(delimiter: str) -> pacsv.ParseOptions:
    # newlines_in_values=False lets Arrow cut blocks at any line break (faster), as the parts are
    # cut; a quoted line break still parses within a block, or fails across blocks: either way the
    # line count or the error sends the file to the thorough reader.
    return pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                              newlines_in_values=False, ignore_empty_lines=False)


def convert_options(names: list[str], wanted: list[int],
                    dictionary: set[int]) -> pacsv.ConvertOptions:
    """Arrow's options for the ``wanted`` columns, as bytes (``dictionary``: dictionary-encoded)."""
    text, coded = pa.binary(), pa.dictionary(pa.int32(), pa.binary())
    return pacsv.ConvertOptions(
        include_columns=[names[i] for i in wanted],
        column_types={names[i]: coded if i in dictionary else text for i in wanted},
        strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[],
    )


def _read_parts(path: str, scan: LineScan, parse: pacsv.ParseOptions, convert: pacsv.ConvertOptions,
                names: list[str]) -> list[pa.Table] | None:
    """:func:`read_columns`' loop: a table per part, each part's bytes also given to ``scan``; None
    when Arrow cannot parse a part.

    The buffer is Arrow's memory, written through a memoryview: Arrow's threads then never hold a
    Python object, which they might release while the interpreter shuts down (a known abort,
    apache/arrow#45017)."""
    with open(path, "rb", buffering=0) as fh, ThreadPoolExecutor(1, thread_name_prefix="winback-scan") as pool:
        buffer = pa.allocate_buffer(min(PART, os.fstat(fh.fileno()).st_size + 1))  # small file: one part
        view = memoryview(buffer).cast("B")
        held = 0  # bytes at the buffer's start carried over from the last part: the start of a line
        tables: list[pa.Table] = []
        while True:
            total = held + _fill(fh, view, held)
            at_end = total < len(view)
            end = total if at_end else after_last_line_break(view, total)
            if not end and not at_end:  # a line longer than the buffer: read on into a larger one
                buffer = pa.allocate_buffer(2 * len(view))
                larger = memoryview(buffer).cast("B")
                larger[:total] = view[:total]
                view, held = larger, total
                continue
            scanned = pool.submit(scan.add, view, end)
            try:
                if end:  # (Arrow copies what it parses: the buffer can be reused afterwards)
                    tables.append(pacsv.read_csv(
                        pa.BufferReader(buffer.slice(0, end)), parse_options=parse, convert_options=convert,
                        read_options=pacsv.ReadOptions(skip_rows=0 if tables else 1, column_names=names,
                                                       block_size=16 << 20)))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
            finally:
                scanned.result()  # the buffer is not refilled while the scan reads it
            if at_end:
                return tables
            held = total - end
            view[:held] = view[end:total].tobytes()  # the start of the next part's first line


def _fill(fh: BinaryIO, view: memoryview, start: int) -> int:
    """Read into ``view[start:]`` until it is full or the file ends; the number of bytes read.

    A large read is two halves read side by side (``os.preadv`` at their own offsets, without the
    interpreter lock): copying 128 MB from the page cache took about 90 ms on one core while
    Arrow's threads and the scan waited."""
    want = len(view) - start
    if want < 2 * _FILL_HALF_MIN or not hasattr(os, "preadv"):
        return read_on(lambda part, done: fh.readinto(part), view[start:])
    fd, at, half = fh.fileno(), fh.tell(), want // 2

    def read_at(base: int) -> Callable[[memoryview, int], int]:
        return lambda part, done: os.preadv(fd, [part], base + done)

    with ThreadPoolExecutor(1, thread_name_prefix="winback-read") as helper:
        second = helper.submit(read_on, read_at(at + half), view[start + half:])
        first = read_on(read_at(at), view[start:start + half])
        got = second.result()
        got = first + got if first == half else first  # else the file ended in the first half
    fh.seek(at + got)
    return got


def read_on(read: Callable[[memoryview, int], int], view: memoryview) -> int:
    """``read(the rest of view, bytes so far)`` until ``view`` is full or it reads nothing; the
    bytes read."""
    got = 0
    while got < len(view) and (n := read(view[got:], got)):
        got += n
    return got


def after_last_line_break(view: memoryview, total: int) -> int:
    """The position after the last line break in ``view[:total]``, or 0: looked for from the end in
    growing windows (a line is short; a copy of the whole buffer is not needed)."""
    hi, step = total, 1 << 16
    while hi > 0:
        lo = max(0, hi - step)
        at = view[lo:hi].tobytes().rfind(b"\n")
        if at >= 0:
            return lo + at + 1
        hi, step = lo, step * 2
    return 0


class LineScan:
    """Whether a file is valid UTF-8 with no bare carriage return, and its number of lines, from its
    bytes part by part (:meth:`add`). numpy compares and counts without the interpreter lock, a chunk at
    a time into one reused buffer of flags; carriage returns are counted only in chunks that have them."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.valid = True
        self.newlines = self.cr = self.crlf = self.size = 0
        self.last = -1  # the last byte so far
        self.flags = np.empty(_SCAN_CHUNK, dtype=bool)
        self.block_start: list[int] = []  # where each block of up to _INDEX_BLOCK bytes starts
        self.block_feeds: list[int] = []  # and its line feeds

    def add(self, view: memoryview, end: int) -> None:
        """Scan ``view[:end]``, the file's next bytes."""
        if not self.valid or not end:
            return
        data = np.frombuffer(view, dtype=np.uint8, count=end)
        for lo in range(0, end, _SCAN_CHUNK):
            chunk = data[lo:lo + _SCAN_CHUNK]
            flags = self.flags[:len(chunk)]
            if chunk.max() >= 0x80:  # not ASCII: check the UTF-8 (a max writes no flags)
                try:
                    self.decoder.decode(view[lo:lo + len(chunk)])
                except UnicodeDecodeError:
                    self.valid = False
                    return
            if np.equal(chunk, 13, out=flags).any():  # carriage returns, and those before a line feed
                self.cr += int(np.count_nonzero(flags))
                self.crlf += int(np.count_nonzero(flags[:-1] & (chunk[1:] == 10)))
            if self.last == 13 and chunk[0] == 10:  # a CRLF cut between two chunks or parts
                self.crlf += 1
            self.last = int(chunk[-1])
            np.equal(chunk, 10, out=flags)
            for at in range(0, len(chunk), _INDEX_BLOCK):
                feeds = int(np.count_nonzero(flags[at:at + _INDEX_BLOCK]))
                self.block_start.append(self.size + lo + at)
                self.block_feeds.append(feeds)
                self.newlines += feeds
        self.size += end

    def result(self) -> tuple[bool, int]:
        """(valid UTF-8 with no bare carriage return, the number of lines)."""
        try:
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self.valid = False
        if not self.valid:
            return False, 0
        return self.cr == self.crlf, self.newlines + (1 if self.size and self.last != 10 else 0)

    def index(self) -> LineIndex:
        return LineIndex(np.array(self.block_start, dtype=np.int64),
                          np.cumsum(np.array(self.block_feeds, dtype=np.int64)), self.size)


class LineIndex(NamedTuple):
    """Where a file's lines are, to a block of :data:`_INDEX_BLOCK` bytes (:class:`LineScan`)."""

    start: np.ndarray  # where each block starts in the file
    feeds_to: np.ndarray  # line feeds from the file's start to each block's end
    size: int  # the file's bytes
