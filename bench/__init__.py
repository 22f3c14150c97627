"""Rough performance measurements of the hub (not part of the installed package)."""
