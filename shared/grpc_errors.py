"""Map domain errors to gRPC statuses with rich details (google.rpc error details).

INVALID_ARGUMENT carries a BadRequest with one field violation per bad field;
FAILED_PRECONDITION carries an ErrorInfo whose reason is the rule's stable code (and a
PreconditionFailure naming it), so a hospital system can branch on the code, not on text.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from shared.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

ERROR_DOMAIN = "crossclear"


class Unauthenticated(DomainError):
    pass


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    if isinstance(error, InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        return grpc.StatusCode.INVALID_ARGUMENT, status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=error.message, details=[_pack(bad)]
        )
    if isinstance(error, FailedPrecondition):
        info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=error.reason, subject="request", description=error.message
                )
            ]
        )
        return grpc.StatusCode.FAILED_PRECONDITION, status_pb2.Status(
            code=code_pb2.FAILED_PRECONDITION,
            message=f"{error.reason}: {error.message}",
            details=[_pack(info), _pack(failure)],
        )
    simple = {
        NotFound: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
        PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, code_pb2.PERMISSION_DENIED),
        AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
        Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    }
    for cls, (grpc_code, rpc_code) in simple.items():
        if isinstance(error, cls):
            return grpc_code, status_pb2.Status(code=rpc_code, message=error.message)
    return grpc.StatusCode.FAILED_PRECONDITION, status_pb2.Status(
        code=code_pb2.FAILED_PRECONDITION, message=error.message
    )


async def abort_with(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    _code, status = to_status(error)
    await context.abort_with_status(rpc_status.to_status(status))


def details_of(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """Client side: the rich status of a failed call, if the server sent one."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def reason_of(error: grpc.aio.AioRpcError) -> str | None:
    status = details_of(error)
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return None


def field_violations_of(error: grpc.aio.AioRpcError) -> list[str]:
    status = details_of(error)
    if status is None:
        return []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return [v.field for v in bad.field_violations]
    return []
