"""gRPC-JSON transcoding: HTTP request → protobuf request, protobuf reply or status → JSON.

The proto3 JSON mapping throughout (protobuf's json_format): proto field names
(``psn_no``, not ``psnNo``), enums by name, int64 as strings, fields at their default
value included in replies so clients see every field. Errors are the google.rpc.Status
the service sent, as JSON, with the same details (BadRequest, ErrorInfo,
LocalizedMessage, RetryInfo), under the HTTP status the gRPC code maps to
(google/rpc/code.proto's mapping).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from shared.errors import InvalidArgument
from shared.grpc_errors import details_of

# Registers the detail types with the default pool, so their Any values print as JSON.
_DETAIL_TYPES = (error_details_pb2.BadRequest, error_details_pb2.LocalizedMessage)

HTTP_STATUS = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}
MAX_QUERY_PARAMS = 32
_TRUE, _FALSE = ("true", "1"), ("false", "0")
_INT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def _is_repeated(field: Any) -> bool:
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _scalar(field: Any, text: str, path: str) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return text
    if field.type in _INT_TYPES:
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument(path, "not an integer") from None
    if field.type == FieldDescriptor.TYPE_BOOL:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise InvalidArgument(path, "true or false")
    if field.type == FieldDescriptor.TYPE_ENUM:
        value = field.enum_type.values_by_name.get(text)
        if value is None and text.lstrip("-").isdigit():
            value = field.enum_type.values_by_number.get(int(text))
        if value is None:
            raise InvalidArgument(path, f"not a {field.enum_type.name} value")
        return value.number
    raise InvalidArgument(path, "cannot be given in the path or query string")


def set_path(message: Message, path: str, text: str) -> None:
    """Set the field at dotted ``path`` from its text form (path or query parameter)."""
    target = message
    names = path.split(".")
    for i, name in enumerate(names):
        field = target.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            raise InvalidArgument(path, "no such field")
        if i < len(names) - 1:
            if field.type != FieldDescriptor.TYPE_MESSAGE or _is_repeated(field):
                raise InvalidArgument(path, "no such field")
            target = getattr(target, name)
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            raise InvalidArgument(path, "a message field cannot be given as text")
        value = _scalar(field, text, path)
        if _is_repeated(field):
            getattr(target, name).append(value)
        else:
            setattr(target, name, value)


def build_request(
    request: Message,
    body_rule: str,
    path_values: dict[str, str],
    query: Iterable[tuple[str, str]],
    body: bytes,
) -> Message:
    """Fill ``request`` from the body (per the rule's ``body``), the query and the path."""
    if body_rule:
        target = request if body_rule == "*" else getattr(request, body_rule)
        try:
            text = body.decode("utf-8", errors="strict") if body else "{}"
            json_format.Parse(text, target)
        except (json_format.ParseError, ValueError) as exc:
            raise InvalidArgument(
                "body", f"not a valid JSON {target.DESCRIPTOR.name}: {exc}"
            ) from None
    else:
        items = list(query)
        if len(items) > MAX_QUERY_PARAMS:
            raise InvalidArgument("query", f"at most {MAX_QUERY_PARAMS} parameters")
        for key, value in items:
            set_path(request, key, value)
    for path, value in path_values.items():
        set_path(request, path, value)
    return request


def to_json(message: Message) -> str:
    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        indent=None,
        ensure_ascii=False,
    )


def status_json(status: status_pb2.Status) -> str:
    """A google.rpc.Status as JSON (details as typed Any values)."""
    return json_format.MessageToJson(
        status, preserving_proto_field_name=True, indent=None, ensure_ascii=False
    )


def status_of_rpc_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status the service sent, or one made of the bare code and message."""
    rich = details_of(error)
    if rich is not None:
        return rich
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def http_status(status: status_pb2.Status) -> int:
    return HTTP_STATUS.get(status.code, 500)


def retry_after_s(status: status_pb2.Status) -> float | None:
    """The RetryInfo delay of a status, if it has one."""
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None


def json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
