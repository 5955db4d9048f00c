"""A protobuf message from a read model whose attributes carry the message's field names.

Responses and events mostly repeat a view's figures field for field; what differs (enums,
times, nested messages, a figure named otherwise) the caller converts and gives::

    pb.FundTotal = message_from(pb.FundTotal, summary, fund_type=FUND_TO_PB[summary.fund])

Every field of the message is either given or read from the attribute of the same name: a
field in neither is a programming error, so a renamed attribute never leaves a field at
its default unnoticed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def message_from(message_type: type[M], source: object, /, **given: Any) -> M:
    """``message_type`` with ``given`` fields and every other field copied from ``source``."""
    copied: dict[str, Any] = {}
    for field in message_type.DESCRIPTOR.fields:
        if field.name in given:
            continue
        assert hasattr(source, field.name), (
            f"{message_type.DESCRIPTOR.full_name}.{field.name}: "
            f"neither given nor an attribute of {type(source).__name__}"
        )
        copied[field.name] = getattr(source, field.name)
    return message_type(**copied, **given)
