"""Generated from protos/ by `python -m shared.codegen` (`make codegen`); do not edit.

Committed, and checked against a fresh generation by tests/unit/shared/test_codegen.py.
"""
