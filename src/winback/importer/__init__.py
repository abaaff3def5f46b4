"""Stage 1: load order exports into the orders frame (see :mod:`winback.importer.load`)."""

from winback.importer.load import ImportOptions, ImportReport, LoadedOrders, SourceInfo, load_orders
from winback.importer.roles import parse_mapping

__all__ = ["ImportOptions", "ImportReport", "LoadedOrders", "SourceInfo", "load_orders", "parse_mapping"]
