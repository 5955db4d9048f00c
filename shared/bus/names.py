"""Names of exchanges, queues and routing keys: built here and nowhere else.

Every name starts with the deployment's namespace (``Settings.bus_namespace``) so several
deployments, or test runs, share one broker without seeing each other's messages.

Routing keys carry the pooling regions, so a queue can subscribe to exactly the regions it
serves with a topic pattern:

- ``settlement.settled.<insured>.<treatment>`` and ``settlement.reversed.<insured>.<treatment>``
- ``filing.<kind>.<insured>.<destination>``
- ``statement.issued.<recipient>`` and ``advance.alert.<recipient>`` (the clearing exchange;
  each region's queue binds ``*.*.<code>``)

A region code is a 6-digit pooling region (统筹区) or a 2-digit province centre (省本级).
"""

from __future__ import annotations

import re
from typing import Final, Literal

ExchangeKind = Literal["settlement", "filing", "clearing"]
EXCHANGE_KINDS: Final[tuple[ExchangeKind, ...]] = ("settlement", "filing", "clearing")

# Same rule as Settings.bus_namespace, checked again here because names built from an
# unchecked namespace would silently land in someone else's exchanges.
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_.-]{0,40}$")
_REGION_CODE = re.compile(r"^(\d{6}|\d{2})$")
# One word of a routing key: no dots (word separator) and no wildcards (* and #).
_KEY_WORD = re.compile(r"^[a-z0-9_-]{1,40}$")
# AMQP short strings (exchange, queue and routing key) hold at most 255 bytes.
NAME_MAX_BYTES: Final = 255


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE.match(namespace):
        raise ValueError(f"invalid bus namespace {namespace!r}")
    return namespace


def check_region_code(code: str) -> str:
    if not _REGION_CODE.match(code):
        raise ValueError(f"invalid region code {code!r}: want 6 digits (pool) or 2 (province)")
    return code


def _check_word(word: str) -> str:
    if not _KEY_WORD.match(word):
        raise ValueError(f"invalid routing-key word {word!r}")
    return word


def _checked_name(name: str) -> str:
    assert len(name.encode()) <= NAME_MAX_BYTES, name
    return name


# -- exchanges -------------------------------------------------------------------------


def exchange_name(namespace: str, kind: ExchangeKind) -> str:
    if kind not in EXCHANGE_KINDS:
        raise ValueError(f"unknown exchange kind {kind!r}")
    return _checked_name(f"{check_namespace(namespace)}.{kind}")


def dead_letter_exchange(namespace: str) -> str:
    return _checked_name(f"{check_namespace(namespace)}.dlx")


# -- queues ----------------------------------------------------------------------------


def dead_letter_queue(namespace: str) -> str:
    return _checked_name(f"{check_namespace(namespace)}.dead-letter")


def settlement_events_queue(namespace: str) -> str:
    """The clearing service's queue of every settlement and reversal."""
    return _checked_name(f"{check_namespace(namespace)}.clearing.settlement-events")


def region_queue(namespace: str, code: str) -> str:
    """One pooling region's queue of statements and advance-fund alerts."""
    return _checked_name(f"{check_namespace(namespace)}.region.{check_region_code(code)}")


def queue_name(namespace: str, *words: str) -> str:
    """Any other queue of the namespace, e.g. ``queue_name(ns, "filing", "audit")``."""
    assert words, "a queue needs a name after its namespace"
    return _checked_name(".".join([check_namespace(namespace), *map(_check_word, words)]))


# -- routing keys ----------------------------------------------------------------------


def settlement_settled_key(insured: str, treatment: str) -> str:
    return f"settlement.settled.{check_region_code(insured)}.{check_region_code(treatment)}"


def settlement_reversed_key(insured: str, treatment: str) -> str:
    return f"settlement.reversed.{check_region_code(insured)}.{check_region_code(treatment)}"


def filing_key(kind: str, insured: str, destination: str) -> str:
    """``kind`` is the filing event's kind in lower case, e.g. ``created`` or ``revoked``."""
    return (
        f"filing.{_check_word(kind)}.{check_region_code(insured)}.{check_region_code(destination)}"
    )


def statement_issued_key(recipient: str) -> str:
    return f"statement.issued.{check_region_code(recipient)}"


def advance_alert_key(recipient: str) -> str:
    return f"advance.alert.{check_region_code(recipient)}"


# -- binding patterns ------------------------------------------------------------------

SETTLEMENT_EVENTS_PATTERN: Final = "settlement.#"
DEAD_LETTER_PATTERN: Final = "#"


def filing_region_pattern(pool: str) -> str:
    """Matches the filing events of persons insured in ``pool`` (any kind, any destination):
    the insured side's agency follows its insured persons' out-of-area filings."""
    return f"filing.*.{check_region_code(pool)}.*"


def region_pattern(code: str) -> str:
    """Matches both clearing messages addressed to ``code``: statements and alerts."""
    return f"*.*.{check_region_code(code)}"
