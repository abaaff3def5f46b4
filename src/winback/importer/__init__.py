"""Stage 1: load order exports into the orders frame (see :mod:`winback.importer.load`).

The names below are loaded on first use, so that :mod:`winback.importer.parts` (Arrow's parse)
can be imported without pandas, which :mod:`winback.importer.load` needs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from winback.importer.load import (
        ImportOptions,
        ImportReport,
        LoadedOrders,
        SourceInfo,
        load_orders,
    )
    from winback.importer.roles import parse_mapping

__all__ = ["ImportOptions", "ImportReport", "LoadedOrders", "SourceInfo", "load_orders", "parse_mapping"]

_WHERE = {"parse_mapping": "winback.importer.roles"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE.get(name, "winback.importer.load")), name)
    globals()[name] = value
    return value
