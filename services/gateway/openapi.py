"""The OpenAPI 3 document of the HTTP API, made from the same bindings and descriptors.

Schemas follow the proto3 JSON mapping the gateway speaks: proto field names, enums as
their names, 64-bit integers as strings, and every error a google.rpc.Status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from services.gateway.bindings import Binding

OPENAPI_VERSION = "3.0.3"
_STRING_64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_INT_32 = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_SFIXED32,
    }
)
_WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "1.5s"},
}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "google.rpc.Status: the gRPC code, the message and typed details "
    "(BadRequest field violations, ErrorInfo reason, LocalizedMessage zh-CN, RetryInfo).",
    "properties": {
        "code": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "additionalProperties": True,
            },
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def message(self, descriptor: Any) -> dict[str, Any]:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive messages
            self.components[name] = {
                "type": "object",
                "properties": {f.name: self.field(f) for f in descriptor.fields},
            }
        return _ref(name)

    def field(self, field: Any) -> dict[str, Any]:
        schema = self._single(field)
        if field.label == FieldDescriptor.LABEL_REPEATED:
            return {"type": "array", "items": schema}
        return schema

    def _single(self, field: Any) -> dict[str, Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message(field.message_type)
        if field.type == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        if field.type in _STRING_64:
            return {"type": "string", "format": "int64"}
        if field.type in _INT_32:
            return {"type": "integer", "format": "int32"}
        if field.type == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return {"type": "number"}
        if field.type == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        return {"type": "string"}


def _query_fields(descriptor: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """Scalar fields reachable from the request (dotted), as query parameters."""
    found: list[tuple[str, Any]] = []
    for field in descriptor.fields:
        path = prefix + field.name
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.label != FieldDescriptor.LABEL_REPEATED and depth < 3:
                found.extend(_query_fields(field.message_type, path + ".", depth + 1))
            continue
        found.append((path, field))
    return found


def _field_at(descriptor: Any, path: str) -> Any:
    names = path.split(".")
    for name in names[:-1]:
        descriptor = descriptor.fields_by_name[name].message_type
    return descriptor.fields_by_name[names[-1]]


def _operation(binding: Binding, schemas: _Schemas) -> dict[str, Any]:
    request = binding.method.input_type
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schemas.field(_field_at(request, name)),
        }
        for name in binding.variables
    ]
    operation: dict[str, Any] = {
        "operationId": binding.method.name,
        "tags": [binding.service.rsplit(".", 1)[-1]],
        "summary": f"{binding.service}.{binding.method.name}",
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {"schema": schemas.message(binding.method.output_type)}
                },
            },
            "default": {
                "description": "An error: google.rpc.Status (HTTP status per its code)",
                "content": {"application/json": {"schema": _ref("google.rpc.Status")}},
            },
        },
    }
    if binding.body:
        body_type = (
            request if binding.body == "*" else request.fields_by_name[binding.body].message_type
        )
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.message(body_type)}},
        }
    else:
        for path, field in _query_fields(request):
            if path not in binding.variables:
                parameters.append(
                    {"name": path, "in": "query", "required": False, "schema": schemas.field(field)}
                )
    return operation


def document(
    bindings: Sequence[Binding],
    *,
    title: str,
    version: str,
    institution_services: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``institution_services``: services called by institutions (hospitals, pharmacies),
    identified by their client certificate (development: the caller header) rather than
    an end user's token."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for binding in bindings:
        operation = _operation(binding, schemas)
        if binding.service in institution_services:
            operation["security"] = [{"developmentCaller": []}]
        paths.setdefault(binding.template, {})[binding.verb.lower()] = operation
    schemas.components["google.rpc.Status"] = STATUS_SCHEMA
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": "JSON over HTTP, transcoded from the gRPC services' google.api.http "
            "bindings (proto3 JSON mapping: proto field names, enums by name, int64 as "
            "strings). Every call carries the end user's token: Authorization: Bearer <JWT> "
            "of the channel's identity provider.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "developmentCaller": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-crossclear-caller",
                    "description": "Development only, without HTTPS: the hospital's code "
                    "(H + pool + 5 digits). In production hospitals and pharmacies call over "
                    "HTTPS presenting their client certificate of the platform CA (the one "
                    "they use for gRPC; common name = their code).",
                },
            },
        },
        "security": [{"bearer": []}],
    }
