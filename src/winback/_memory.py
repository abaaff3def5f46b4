"""How the process holds memory: one malloc arena for every thread, freed arrays kept for the next
ones, memory made ready while the command starts, and Arrow's freed memory given back to the
operating system between pipeline stages.

**One arena** (:func:`use_one_malloc_arena`, called by the command line before numpy or Arrow start
a thread). glibc gives each thread that allocates its own arena, up to eight per core. The summary
and the scoring run their numpy work in helper threads, so the memory a helper freed sat in its own
arena where the main thread could not reuse it: the next stage's arrays took fresh pages instead,
which on a VM whose host backs memory lazily cost up to 2 ms per MB. With one arena the
ten-million-order scan took 7.31 s against 7.70 s (medians of four interleaved runs), with about
half a second less system time and a peak of 1.80-1.85 GB against 1.93-2.02 GB
(docs/performance.md). The threads take large blocks a few at a time, so they hardly ever wait for
the arena's lock.

**Freed arrays kept for reuse** (:func:`keep_freed_memory`, called with it). glibc gives a large
allocation (over 128 KB at first, over up to 32 MB as it adapts: a column of four million values) a
mapping of its own, and hands it back to the kernel when it is freed; the next such array is fresh
pages again, which on a VM whose host takes freed memory back costs up to 2 ms per MB. Served from
the heap and never trimmed, freed arrays are reused by the next stage's as they are: the
ten-million-order scan took 4.59 s against 4.74 s (medians of eight alternated runs, the slowest
4.75 s against 5.51 s), with 0.6-0.9 s of system time against 0.8-1.4 s, and a peak 20-30 MB
higher (docs/performance.md). The process gives its memory back when it ends.

**Memory made ready while the command starts** (:func:`warm_heap_for`). Python's imports take
about half a second on one core. Meanwhile a second thread asks for as much heap memory as the
import's arrays will take (about 60 bytes per line of the input files), writes it once and frees
it: the pages are then the process's own, and the importer's arrays reuse them instead of faulting
in fresh ones on the cores the import needs. The ten-million-order scan took 4.23 s against 4.86 s
(medians of four alternated runs; 3M orders: 1.96 s against 2.12 s, five runs), its peak 50-100 MB
higher (docs/performance.md).

**Arrow's freed memory.**

Arrow's allocator (mimalloc or jemalloc) keeps freed pages for reuse by Arrow, but after the import
the pipeline allocates through numpy (glibc): the CSV's freed buffers, about a gigabyte at ten million
orders, would stay resident under everything that follows. Handing them back keeps the peak close to
what is really in use.

glibc's own freed blocks are left where they are (above): numpy reuses them for the next stage's
arrays. Trimming them too (``malloc_trim``) lowered the 10M-order peak by 50 MB but cost 0.3 s,
because on a VM whose host takes freed memory back, every page given away is paid for again on its
next use (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Sequence

#: mallopt's parameters (glibc's malloc.h): the most arenas, the top of the heap kept when freed,
#: the most allocations given mappings of their own.
_M_ARENA_MAX = -8
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def use_one_malloc_arena() -> bool:
    """Ask glibc to serve every thread from one arena; True if it was set here. Nothing is changed
    where the C library is not glibc, or where the user set the arena count (``MALLOC_ARENA_MAX``,
    or ``arena_max`` in ``GLIBC_TUNABLES``). It only acts on threads that have not allocated yet:
    call it before numpy and Arrow are imported."""
    return _mallopt({_M_ARENA_MAX: 1}, ("MALLOC_ARENA_MAX",), ("arena_max",))


def keep_freed_memory() -> bool:
    """Ask glibc to serve large allocations from the heap and never to trim it (see the module's
    description); True if it was set here. Nothing is changed where the C library is not glibc, or
    where the user set either (``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_``, or ``mmap_max``
    or ``trim_threshold`` in ``GLIBC_TUNABLES``). Call it before numpy and Arrow are imported."""
    # (A trim threshold of -1: never trim, as mallopt(3) documents.)
    return _mallopt({_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: -1},
                    ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"), ("mmap_max", "trim_threshold"))


def _mallopt(settings: dict[int, int], variables: tuple[str, ...],
             tunables: tuple[str, ...]) -> bool:
    """Make glibc's ``settings`` (mallopt parameter: value), unless the user made any of them with
    an environment variable or a glibc tunable; True if all were made here."""
    tunable_text = os.environ.get("GLIBC_TUNABLES", "")
    if any(name in os.environ for name in variables) or any(t in tunable_text for t in tunables):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
        return all([bool(mallopt(parameter, value)) for parameter, value in settings.items()])
    except (AttributeError, OSError, ValueError):  # no confstr (Windows), no such name, no mallopt
        return False


#: Heap memory made ready per line of the input files (:func:`warm_heap_for`): about what the
#: importer's arrays hold per order line (about 600 MB at ten million orders).
WARM_BYTES_PER_LINE = 60
#: Less than this is not worth a thread.
WARM_MIN_BYTES = 64 << 20
#: The head of a file whose line breaks are counted to estimate its lines.
_HEAD_BYTES = 64 << 10


def lines_in(path: str) -> int:
    """About how many lines a text file holds (its size times the share of line breaks in its
    first 64 KB); 0 for anything else: not a regular file, unreadable, or binary (a NUL byte in its
    head, a zip or gzip file)."""
    try:
        if not os.path.isfile(path):
            return 0
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except (OSError, ValueError):
        return 0
    if not head or b"\x00" in head or head[:2] in (b"PK", b"\x1f\x8b"):
        return 0
    return size * head.count(b"\n") // len(head)


#: What a scan that reads its order files whole holds at its peak per line of them, besides
#: :data:`WHOLE_BASE_BYTES` for the program itself: 110-160 bytes in the benchmark (1,327-1,350 MB
#: at 10.1 million lines, 1,383-1,423 MB at 10.8 million, 663-671 MB at 2.8 million;
#: docs/performance.md). The estimate errs on the side of reading in parts.
WHOLE_BYTES_PER_LINE = 160
WHOLE_BASE_BYTES = 250 << 20


@functools.cache
def available_memory() -> int | None:
    """Bytes of memory this process may still take, as first seen (later calls give the same
    answer, whatever was taken since): the system's available memory (Linux ``MemAvailable``), or
    what the limit of the process's control group (a container, a systemd unit's MemoryMax) leaves,
    if that is less; None where neither can be read (not Linux)."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    room = _cgroup_room()
    if room is not None:
        found.append(room)
    return min(found) if found else None


def _cgroup_room() -> int | None:
    """The process's control group's memory limit less its use (cgroup v2 ``memory.max`` and
    ``memory.current``, or v1 ``memory.limit_in_bytes`` and ``memory.usage_in_bytes``), or None:
    no limit, or none found. In a container the group's own folder is the mount's root."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            groups = [line.rstrip("\n").split(":", 2) for line in fh if line.count(":") >= 2]
    except OSError:
        return None
    for _, controllers, path in groups:
        if controllers == "":
            root, files = "/sys/fs/cgroup", ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            root = "/sys/fs/cgroup/memory"
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        for folder in (root + path.rstrip("/"), root):
            try:
                with open(os.path.join(folder, files[0]), encoding="ascii") as fh:
                    limit = fh.read().strip()
                with open(os.path.join(folder, files[1]), encoding="ascii") as fh:
                    used = int(fh.read().strip())
            except (OSError, ValueError):
                continue
            if limit == "max" or int(limit) >= 1 << 60:  # (v1 writes a huge number for none)
                return None
            return max(0, int(limit) - used)
    return None


def too_large_to_read_whole(paths: Sequence[str]) -> tuple[int, int] | None:
    """(bytes a scan would need, bytes available) when reading these order files whole would need
    more memory than :func:`available_memory`; else None (it fits, or nothing is known)."""
    available = available_memory()
    need = WHOLE_BASE_BYTES + sum(lines_in(p) for p in paths) * WHOLE_BYTES_PER_LINE
    if available is None or need <= available:
        return None
    return need, available


def named_files(arguments: list[str], written: tuple[str, ...] = ()) -> list[str]:
    """What a command line's ``arguments`` may name as input files: every argument that is not an
    option, and the values of options given as ``--name=value``, but not the values of the options
    in ``written`` (the files a command writes: an old log or list says nothing of the input)."""
    paths, skip = [], False
    for argument in arguments:
        name, given, value = argument.partition("=")
        if skip:
            skip = False
        elif not argument.startswith("-"):
            paths.append(argument)
        elif name in written:
            skip = not given  # the value is the next argument
        elif given:
            paths.append(value)  # --customers=FILE
    return paths


def warm_heap_for(arguments: list[str], written: tuple[str, ...] = ()) -> threading.Thread | None:
    """Make heap memory ready for the text files named among a command line's ``arguments``
    (:func:`named_files`; see the module's description): a thread mallocs
    :data:`WARM_BYTES_PER_LINE` bytes per line, writes them and frees them, at most a quarter of
    the memory available. It returns that thread, or None when there is too little to do. Only
    useful after :func:`keep_freed_memory` (else the freed memory goes straight back to the
    kernel); call it before the imports, which it runs beside."""
    nbytes = sum(lines_in(p) for p in named_files(arguments, written)) * WARM_BYTES_PER_LINE
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # no such names (Windows, macOS)
        return None
    nbytes = min(nbytes, available // 4)
    if nbytes < WARM_MIN_BYTES:
        return None
    thread = threading.Thread(target=_touch, args=(nbytes,), name="winback-warm", daemon=True)
    thread.start()
    return thread


def _touch(nbytes: int) -> None:
    """malloc ``nbytes``, write each page, free them (ctypes gives up the interpreter lock)."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    block = libc.malloc(nbytes)
    if block:
        ctypes.memset(block, 0, nbytes)
        libc.free(block)


def release_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
