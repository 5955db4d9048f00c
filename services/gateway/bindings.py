"""The HTTP bindings of the gRPC methods, read from their ``google.api.http`` options.

Nothing about the HTTP API is written twice: the protos' annotations say which methods
have an HTTP form, under which verb and path; this module turns them into routes.
Path templates are the subset of google.api.HttpRule the protos use: literal segments,
``{field}`` / ``{a.b}`` variables matching one segment, and a ``:verb`` suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE_RE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}")
_SEGMENT_CHARS = r"[^/:]+"


@dataclass(frozen=True)
class Binding:
    service: str  # full name, e.g. crossclear.filing.v1.FilingService
    method: MethodDescriptor
    verb: str  # upper case: GET, POST, …
    template: str  # e.g. /v1/filings/{filing_id}:cancel
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # field paths bound from the path
    body: str  # "*", a field name, or "" (fields from the query string)

    @property
    def rpc_path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def request_class(self) -> Any:
        from google.protobuf import message_factory

        return message_factory.GetMessageClass(self.method.input_type)

    @property
    def response_class(self) -> Any:
        from google.protobuf import message_factory

        return message_factory.GetMessageClass(self.method.output_type)

    def match(self, verb: str, path: str) -> dict[str, str] | None:
        if verb != self.verb:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    variables: list[str] = []
    parts: list[str] = []
    position = 0
    for found in _VARIABLE_RE.finditer(template):
        parts.append(re.escape(template[position : found.start()]))
        name = found.group(1)
        variables.append(name)
        parts.append(f"(?P<v{len(variables) - 1}>{_SEGMENT_CHARS})")
        position = found.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts)), tuple(variables)


def _rule_of(method: MethodDescriptor) -> http_pb2.HttpRule | None:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    return rule


def bindings_of(service: ServiceDescriptor) -> list[Binding]:
    """Every method of ``service`` with an HTTP binding, in declaration order."""
    found: list[Binding] = []
    for method in service.methods:
        rule = _rule_of(method)
        if rule is None:
            continue
        verb = rule.WhichOneof("pattern")
        if verb not in VERBS:
            raise ValueError(f"{method.full_name}: unsupported HTTP pattern {verb}")
        template = getattr(rule, verb)
        pattern, variables = _compile(template)
        found.append(
            Binding(
                service=service.full_name,
                method=method,
                verb=verb.upper(),
                template=template,
                pattern=pattern,
                variables=variables,
                body=rule.body,
            )
        )
    return found


def path_values(binding: Binding, groups: dict[str, str]) -> dict[str, str]:
    """Field path → value of the variables a matched path carries."""
    return {name: groups[f"v{i}"] for i, name in enumerate(binding.variables)}
