"""The test harness: settling a runtime, the fake platforms and the worlds built on them.

Tests import from here (`tests.harness.settle`, `tests.harness.slack`, ...); fixtures
that hand these out live in the conftest.py files.
"""
