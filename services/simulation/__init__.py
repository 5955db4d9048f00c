"""The simulated months: persons, filings and hospital traffic driven through the public
gRPC APIs of the three services, day by day on a simulated clock, each month cleared in
its own period on day 5 of the next, then a summary, ``summary.json`` and a report.

``scenario`` is pure (a seed in, a plan out); ``clockwork`` sets the services' clocks and
orders the work; ``traffic`` and ``month_end`` talk to the services; ``figures``,
``summary`` and ``report`` render what came back; ``cli`` wires it together.
"""
