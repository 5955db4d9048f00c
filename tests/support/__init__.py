"""Helpers shared by every test package (no fixtures: those live in the conftest files)."""
