"""Settlement's pure core: catalogue, benefit policy, the settlement engine, supervision.

Nothing here does I/O: frozen dataclasses and enums go in, plain values come out. The
service layer stores catalogues, policies and annual accumulations in PostgreSQL and calls
:func:`services.settlement.domain.engine.settle` inside one transaction.
"""
