"""The simulated months: persons, filings and hospital traffic driven through the public
gRPC APIs of the three services, day by day on a simulated clock, each month cleared in
its own period on day 5 of the next, then a summary, ``summary.json`` and a report.

``scenario`` is pure (a seed in, a plan out), drawn from ``cohorts`` (who is insured
where) and ``encounters`` (when and where they are treated, how they file) in the
vocabulary of ``plan``, with fee lines from ``recipes`` (``outpatient_recipes``,
``inpatient_recipes``); ``clockwork`` sets the services' clocks and orders the work;
``traffic`` (with ``hospital_flow`` for one encounter and ``pharmacies``) and
``month_end`` (with ``advances``, ``statement_views`` and ``region_queues``) talk to the
services; ``figures``, ``summary`` and ``report`` (with ``charts`` and
``statement_export``) render what came back; ``cli`` wires it together.
"""
