"""The simulated month: persons, filings and hospital traffic driven through the public
gRPC APIs of the three services, then the month-end clearing, a summary and a report.

``scenario`` is pure (a seed in, a plan out); ``traffic`` and ``month_end`` talk to the
services; ``summary`` and ``report`` render what came back; ``cli`` wires it together.
"""
