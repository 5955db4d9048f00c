"""Domain errors. Pure code raises these; the gRPC layer maps each to its status code.

Every error says what a caller can act on: the offending field, the rule that blocked the
request (a stable reason code), or what was not found. Nothing internal leaks through.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class DomainError(Exception):
    """Base class: a request the system understood and refused."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(DomainError):
    """A field of the request is malformed or out of range → INVALID_ARGUMENT."""

    def __init__(self, field_name: str, description: str, *more: FieldViolation) -> None:
        self.violations: list[FieldViolation] = [FieldViolation(field_name, description), *more]
        super().__init__(f"{field_name}: {description}")

    @classmethod
    def of(cls, violations: list[FieldViolation]) -> InvalidArgument:
        first, *rest = violations
        return cls(first.field, first.description, *rest)


class FailedPrecondition(DomainError):
    """A business rule blocks the request in the current state → FAILED_PRECONDITION."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # stable, upper-snake code, e.g. "FILING_REQUIRED"


class NotFound(DomainError):
    """The named thing does not exist (for this caller) → NOT_FOUND."""


class PermissionDenied(DomainError):
    """The caller may not act on this thing → PERMISSION_DENIED."""


class AlreadyExists(DomainError):
    """A different request already used this idempotency key → ALREADY_EXISTS."""


@dataclass
class Violations:
    """Collects field violations so one response can name every bad field at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_name: str, description: str) -> None:
        self.items.append(FieldViolation(field_name, description))

    def check(self, condition: bool, field_name: str, description: str) -> None:
        if not condition:
            self.add(field_name, description)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument.of(self.items)
