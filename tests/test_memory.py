"""How the command's process holds memory (winback._memory)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from winback._memory import use_one_malloc_arena


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError):
        return False


# Imports the command line, lets three threads allocate at once, and prints glibc's arena statistics
# (one "Arena N:" block per arena) on stderr.
_ARENAS = """
import ctypes, threading
import winback.cli
import numpy as np
kept, ready = [], threading.Barrier(3)
def work():
    ready.wait()
    kept.append(np.ones(20_000))
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(3)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(env: dict[str, str]) -> int:
    done = subprocess.run([sys.executable, "-c", _ARENAS], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(not _glibc(), reason="the arena setting is glibc's")
def test_the_command_line_serves_every_thread_from_one_arena():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX" and k != "GLIBC_TUNABLES"}
    assert _arenas(env) == 1
    # The user's own setting is kept: with it, the same threads get arenas of their own.
    assert _arenas({**env, "MALLOC_ARENA_MAX": "4"}) > 1


def test_the_users_own_arena_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert use_one_malloc_arena() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=3")
    assert use_one_malloc_arena() is False
