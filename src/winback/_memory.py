"""How the process holds memory: one malloc arena for every thread, and Arrow's freed memory given
back to the operating system between pipeline stages.

**One arena** (:func:`use_one_malloc_arena`, called by the command line before numpy or Arrow start
a thread). glibc gives each thread that allocates its own arena, up to eight per core. The summary
and the scoring run their numpy work in helper threads, so the memory a helper freed sat in its own
arena where the main thread could not reuse it: the next stage's arrays took fresh pages instead,
which on a VM whose host backs memory lazily cost up to 2 ms per MB. With one arena the
ten-million-order scan took 7.31 s against 7.70 s (medians of four interleaved runs), with about
half a second less system time and a peak of 1.80-1.85 GB against 1.93-2.02 GB
(docs/performance.md). The threads take large blocks a few at a time, so they hardly ever wait for
the arena's lock.

**Arrow's freed memory.**

Arrow's allocator (mimalloc or jemalloc) keeps freed pages for reuse by Arrow, but after the import
the pipeline allocates through numpy (glibc): the CSV's freed buffers, about a gigabyte at ten million
orders, would stay resident under everything that follows. Handing them back keeps the peak close to
what is really in use.

glibc's own freed blocks are left where they are: numpy reuses them for the next stage's arrays.
Trimming them too (``malloc_trim``) lowered the 10M-order peak by 50 MB but cost 0.3 s, because
on a VM whose host takes freed memory back, every page given away is paid for again on its next use
(docs/performance.md).
"""

from __future__ import annotations

import ctypes
import os

#: mallopt's parameter for the most arenas (glibc's malloc.h).
_M_ARENA_MAX = -8


def use_one_malloc_arena() -> bool:
    """Ask glibc to serve every thread from one arena; True if it was set here. Nothing is changed
    where the C library is not glibc, or where the user set the arena count (``MALLOC_ARENA_MAX``,
    or ``arena_max`` in ``GLIBC_TUNABLES``). It only acts on threads that have not allocated yet:
    call it before numpy and Arrow are imported."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        return bool(ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1))
    except (AttributeError, OSError, ValueError):  # no confstr (Windows), no such name, no mallopt
        return False


def release_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
