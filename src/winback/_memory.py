"""Give freed memory back to the operating system between pipeline stages.

Arrow's allocator keeps freed pages for reuse, and glibc keeps freed blocks of under 32 MB (a column
of four million customers) in its heap. Neither is a leak, but at ten million orders they add a
gigabyte or more to the resident size that the next stage then builds on. Calling this between
stages keeps the peak close to what is really in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pyarrow as pa


@functools.cache
def _malloc_trim():  # noqa: ANN202
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:  # pragma: no cover - no C library to load (not Linux/glibc)
        return None


def release_memory() -> None:
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
