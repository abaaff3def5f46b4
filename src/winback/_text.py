"""Text for millions of values at once, made by Arrow a column at a time (no Python string per
value).

The call list's reasons (:mod:`winback.segments`) and its CSV and JSON files
(:mod:`winback.writers`) are built from these: whole numbers cast, pieces joined per row, a choice
per row, and the rare value Arrow cannot write as Python does formatted by Python.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: The text type of every array made here (64-bit offsets: a column of millions of long texts fits).
TEXT = pa.large_string()


def _text(piece: pa.Array | str) -> pa.Array | pa.Scalar:
    return pa.scalar(piece, TEXT) if isinstance(piece, str) else piece


def joined(*pieces: pa.Array | str) -> pa.Array:
    """The pieces (text arrays, or plain strings for every row) one after the other, per row."""
    return pc.binary_join_element_wise(*[_text(p) for p in pieces], pa.scalar("", TEXT))


def choose(condition: np.ndarray, yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    """Per row, ``yes`` where ``condition`` holds, else ``no``."""
    return pc.if_else(pa.array(condition, type=pa.bool_()), _text(yes), _text(no))


def signed(text: pa.Array, negative: np.ndarray) -> pa.Array:
    """``text`` with a leading minus where ``negative`` holds."""
    return choose(negative, joined("-", text), text)


def whole(values: np.ndarray) -> pa.Array:
    """Whole numbers as ``str(int)`` writes them."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), TEXT)


def python_where(text: pa.Array, where: np.ndarray, values: np.ndarray,
                 form: Callable[[float], str]) -> pa.Array:
    """``text`` with the cells where ``where`` holds (rare) made by ``form`` of their value in
    Python."""
    rare = np.flatnonzero(where)
    if not len(rare):
        return text
    out = text.to_numpy(zero_copy_only=False).astype(object)
    for at in rare:
        out[at] = form(float(values[at]))
    return pa.array(out, type=TEXT)


__all__ = ["TEXT", "choose", "joined", "python_where", "signed", "whole"]
