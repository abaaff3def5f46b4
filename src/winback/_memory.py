"""How the process holds memory: one malloc arena for every thread, freed arrays kept for the next
ones, and Arrow's freed memory given back to the operating system between pipeline stages.

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
import os

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


def release_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
