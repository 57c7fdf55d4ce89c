"""Shared test helpers, imported as `from tests.helpers.x import ...` (tests/__init__.py puts the
repo root on pytest's sys.path)."""
