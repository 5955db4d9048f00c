"""Map domain errors to gRPC statuses with rich details (google.rpc error details).

INVALID_ARGUMENT carries a BadRequest with one field violation per bad field;
FAILED_PRECONDITION carries an ErrorInfo whose reason is the rule's stable code (and a
PreconditionFailure naming it), so a hospital system can branch on the code, not on text.
UNAVAILABLE (an infrastructure fault) and RESOURCE_EXHAUSTED (load shedding) carry a
RetryInfo with the delay to wait before retrying with the same idempotency key.

Every error status carries an ErrorInfo whose metadata holds the request id, and the
request id also travels in the trailing metadata, so a vendor can quote it to support.

The details are bounded: a caller that sends a 5,000-character field or 500 bad lines
gets INVALID_ARGUMENT, not a trailer larger than the client's 8 KB metadata limit.
Echoed text is cut to ``TEXT_MAX_CHARS``, at most ``VIOLATIONS_MAX`` field violations
are listed (the last one says how many more there were), and the serialised status is
kept under ``STATUS_MAX_BYTES``.
"""

from __future__ import annotations

from typing import Final

import grpc
from google.protobuf import any_pb2, duration_pb2
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
from shared.faults import Unavailable
from shared.zh_fields import zh_violation

ERROR_DOMAIN = "crossclear"
REQUEST_ID_HEADER: Final = "x-request-id"
TEXT_MAX_CHARS: Final = 160
FIELD_MAX_CHARS: Final = 120
VIOLATIONS_MAX: Final = 12
# grpc-status-details-bin travels base64-encoded beside grpc-message (percent-encoded):
# 3 KB of status stays well under the 8 KB that clients accept by default.
STATUS_MAX_BYTES: Final = 3_000


class Unauthenticated(DomainError):
    pass


class ResourceExhausted(DomainError):
    """The server sheds this request to stay responsive; retry after the hint."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def clip(text: str, limit: int = TEXT_MAX_CHARS) -> str:
    """At most ``limit`` characters of ``text``, marked when cut."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


# What a hospital's or a channel's staff reads: every error also carries a
# google.rpc.LocalizedMessage in zh-CN beside the English message.
LOCALE_ZH: Final = "zh-CN"
_ZH_BY_CODE: Final = {
    code_pb2.INVALID_ARGUMENT: "请求参数有误",
    code_pb2.FAILED_PRECONDITION: "业务规则不允许办理",
    code_pb2.NOT_FOUND: "未找到所指的记录",
    code_pb2.PERMISSION_DENIED: "无权办理此项业务",
    code_pb2.ALREADY_EXISTS: "该请求编号已用于另一笔不同的请求",
    code_pb2.UNAUTHENTICATED: "无法识别身份：机构请使用颁发的客户端证书，参保人请重新登录",
    code_pb2.UNAVAILABLE: "服务暂时不可用，请稍后使用同一报文ID（msgid）或请求编号重试",
    code_pb2.RESOURCE_EXHAUSTED: "服务繁忙，请按提示的时间后重试",
}
# The rules a caller meets most, by their stable reason code.
ZH_REASONS: Final = {
    "FILING_REQUIRED": "参保人未办理就医地的异地就医备案",
    "FILING_EXPIRED": "备案已过有效期，请重新备案",
    "FILING_CANCELLED": "备案已取消",
    "FILING_SUPERSEDED": "该备案已被变更，请使用当前版本",
    "FILING_NOT_VALID_ON_DATE": "就诊日期不在备案有效期内",
    "LONG_TERM_CHANGE_LOCKED": "长期备案生效后六个月内不得变更或取消",
    "INSURANCE_ENDED": "参保关系已终止",
    "DOCUMENT_HELD_BY_ANOTHER_PERSON": "该证件已登记在另一参保人名下",
    "ENCOUNTER_ALREADY_SETTLED": "该次就诊已结算",
    "ENCOUNTER_CANCELLED": "该次就诊已撤销",
    "SETTLEMENT_ALREADY_REVERSED": "该笔结算已撤销",
    "NOT_A_SETTLEMENT": "所指记录不是一笔结算",
    "MSGID_CORRECTED": "该报文已被冲正（2601），不能再使用",
    "ALREADY_CORRECTED": "原报文已冲正",
    "NO_CATALOGUE_IN_EFFECT": "就诊日期没有生效的目录版本",
    "NO_POLICY_IN_EFFECT": "就诊日期没有生效的待遇政策",
    "INSTITUTION_NOT_DESIGNATED": "就诊日期该医疗机构不是定点医疗机构",
    "PERIOD_NOT_STARTED": "清算期尚未开始",
    "ILLEGAL_TRANSITION": "当前状态下不能办理此操作",
    "STATEMENTS_NOT_FINAL": "对账单尚未全部确认",
    "APPLICATION_ACTIVE": "本期已有未撤销的清算申请",
    "NO_HISTORY": "没有可用于测算预付金的历史清算数据",
    "ADVANCE_TOO_LARGE": "预付金金额超出上限",
    "LIMIT_EXCEEDED": "超出数量上限",
    "CLOCK_BACKWARDS": "时钟不能回拨",
    "CHRONIC_DISEASE_NOT_CERTIFIED": "参保地未认定该门诊慢特病资格",
    "CHRONIC_DISEASE_ALREADY_CERTIFIED": "该病种已有有效或待审核的资格认定",
    "CHRONIC_CERTIFICATION_NOT_PENDING": "该资格认定不在待审核状态",
    "CHRONIC_CERTIFICATION_CANCELLED": "该资格认定已撤销",
    "CHRONIC_CERTIFICATION_LIMIT_REACHED": "资格认定数量已达上限",
    "NOT_AN_OUTPATIENT_ENCOUNTER": "该就诊不是门诊登记",
    "NOT_AN_INPATIENT_ENCOUNTER": "该就诊不是住院登记",
    "FEE_LINES_STANDING": "仍有未撤销的费用明细，请先撤销",
    "FEE_LINES_BEFORE_ADMISSION": "已有费用明细早于新的入院日期",
    "NOT_DISCHARGED": "尚未办理出院",
    "ALREADY_DISCHARGED": "已办理出院，请先撤销出院",
    "CHANGED_SINCE_TRANSACTION": "原交易之后该次就诊已有其他变动，不能冲正，请先撤销后续交易",
    "NOT_CORRECTABLE": "该类交易不能冲正",
}


def _zh(status: status_pb2.Status, error: DomainError | Unavailable) -> str:
    text = _ZH_BY_CODE.get(status.code, "请求未能办理")
    if isinstance(error, InvalidArgument):
        fields = "、".join(clip(v.field, 48) for v in error.violations[:3])
        more = f"等 {len(error.violations)} 处" if len(error.violations) > 3 else ""
        return f"{text}：{fields}{more}（逐项说明见 BadRequest）"
    if isinstance(error, FailedPrecondition):
        return f"{text}：{ZH_REASONS.get(error.reason, error.reason)}"
    return text


def to_status(
    error: DomainError | Unavailable, request_id: str | None = None
) -> tuple[grpc.StatusCode, status_pb2.Status]:
    grpc_code, status = _status_of(error)
    status.message = clip(status.message, 2 * TEXT_MAX_CHARS)
    status.details.append(
        _pack(error_details_pb2.LocalizedMessage(locale=LOCALE_ZH, message=_zh(status, error)))
    )
    if request_id is not None:
        _add_request_id(status, request_id)
    return grpc_code, status


def _status_of(error: DomainError | Unavailable) -> tuple[grpc.StatusCode, status_pb2.Status]:
    if isinstance(error, InvalidArgument):
        return grpc.StatusCode.INVALID_ARGUMENT, _bad_request(error)
    if isinstance(error, FailedPrecondition):
        info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=error.reason, subject="request", description=clip(error.message)
                )
            ]
        )
        return grpc.StatusCode.FAILED_PRECONDITION, status_pb2.Status(
            code=code_pb2.FAILED_PRECONDITION,
            message=f"{error.reason}: {error.message}",
            details=[_pack(info), _pack(failure)],
        )
    if isinstance(error, Unavailable):
        return grpc.StatusCode.UNAVAILABLE, _retryable(
            code_pb2.UNAVAILABLE, "UNAVAILABLE", error.message, error.retry_after_s
        )
    if isinstance(error, ResourceExhausted):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, _retryable(
            code_pb2.RESOURCE_EXHAUSTED, "OVERLOADED", error.message, error.retry_after_s
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


def _bad_request(error: InvalidArgument) -> status_pb2.Status:
    violations = [
        error_details_pb2.BadRequest.FieldViolation(
            field=clip(v.field, FIELD_MAX_CHARS),
            description=clip(v.description),
            localized_message=error_details_pb2.LocalizedMessage(
                locale=LOCALE_ZH, message=clip(zh_violation(v.field, v.description))
            ),
        )
        for v in error.violations[:VIOLATIONS_MAX]
    ]
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=error.message)
    # Drop listed violations until the status fits, then say how many were left out.
    while True:
        hidden = len(error.violations) - len(violations)
        listed = list(violations)
        if hidden:
            listed.append(
                error_details_pb2.BadRequest.FieldViolation(
                    field="…",
                    description=f"and {hidden} more violation(s) not listed",
                    localized_message=error_details_pb2.LocalizedMessage(
                        locale=LOCALE_ZH, message=f"另有 {hidden} 处问题未列出"
                    ),
                )
            )
        del status.details[:]
        status.details.append(_pack(error_details_pb2.BadRequest(field_violations=listed)))
        if status.ByteSize() <= STATUS_MAX_BYTES or len(violations) <= 1:
            return status
        violations.pop()


def _retryable(code: int, reason: str, message: str, retry_after_s: float) -> status_pb2.Status:
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(max(1, round(retry_after_s * 1000)))
    return status_pb2.Status(
        code=code,
        message=message,
        details=[
            _pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)),
            _pack(error_details_pb2.RetryInfo(retry_delay=delay)),
        ],
    )


def _add_request_id(status: status_pb2.Status, request_id: str) -> None:
    """Put the request id into the status's ErrorInfo (adding one if it has none)."""
    request_id = clip(request_id, 64)
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            info.metadata["request_id"] = request_id
            detail.Pack(info)
            return
    info = error_details_pb2.ErrorInfo(reason=code_pb2.Code.Name(status.code), domain=ERROR_DOMAIN)
    info.metadata["request_id"] = request_id
    status.details.append(_pack(info))


async def abort_with(
    context: grpc.aio.ServicerContext,
    error: DomainError | Unavailable,
    request_id: str | None = None,
) -> None:
    _code, status = to_status(error, request_id)
    rich = rpc_status.to_status(status)
    trailers = tuple(rich.trailing_metadata)
    if request_id is not None:
        # abort replaces the trailing metadata set earlier: repeat the request id.
        trailers = ((REQUEST_ID_HEADER, clip(request_id, 64)), *trailers)
    await context.abort(rich.code, rich.details, trailing_metadata=trailers)


def details_of(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """Client side: the rich status of a failed call, if the server sent one."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def error_info_of(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    status = details_of(error)
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def reason_of(error: grpc.aio.AioRpcError) -> str | None:
    """The stable reason code of a refused rule (FAILED_PRECONDITION), else None."""
    if error.code() is not grpc.StatusCode.FAILED_PRECONDITION:
        return None
    info = error_info_of(error)
    return None if info is None else str(info.reason)


def localized_of(error: grpc.aio.AioRpcError, locale: str = LOCALE_ZH) -> str | None:
    """The message in ``locale`` a failed call carries, if any."""
    status = details_of(error)
    if status is None:
        return None
    for detail in status.details:
        message = error_details_pb2.LocalizedMessage()
        if detail.Unpack(message) and message.locale == locale:
            return str(message.message)
    return None


def retry_delay_of(error: grpc.aio.AioRpcError) -> float | None:
    """Seconds the server asks the client to wait before retrying, if it said."""
    status = details_of(error)
    if status is None:
        return None
    for detail in status.details:
        hint = error_details_pb2.RetryInfo()
        if detail.Unpack(hint):
            return float(hint.retry_delay.ToMilliseconds()) / 1000
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
