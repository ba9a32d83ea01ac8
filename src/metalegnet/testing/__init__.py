"""Reusable test suites and structures for models (in the style of nequip's unittests)."""
