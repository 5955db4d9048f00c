"""Seed data for settlement: treatment-side catalogues and insured-side benefit policies.

Read through :mod:`services.settlement.domain.seed`. Codes, prices and most policy figures
are modeled (see README.md in this folder and the ``modeled`` flags in the JSON files).
"""
