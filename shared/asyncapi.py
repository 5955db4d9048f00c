"""The AsyncAPI document of what a pooling region receives, generated from events.proto.

``python -m shared.asyncapi > docs/asyncapi.yaml``; a test regenerates it and fails when
the committed document and the protobuf messages disagree.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from shared.bus.connection import CONTENT_TYPE
from shared.pb.crossclear.events.v1 import events_pb2

# What arrives on a region's queue: statements and advance-fund alerts addressed to the
# region, and (for a pool) the out-of-area filings of its insured persons.
REGION_MESSAGES = (
    events_pb2.StatementIssued,
    events_pb2.AdvanceFundAlert,
    events_pb2.FilingEvent,
    events_pb2.ChronicCertificationEvent,
)

_SCALARS = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}


def _enum(descriptor: EnumDescriptor) -> dict[str, Any]:
    return {"type": "string", "enum": [v.name for v in descriptor.values]}


def _schema(descriptor: Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return {"type": "string", "format": "date-time"}
    if name not in schemas:
        schemas[name] = {}  # placeholder against recursion
        properties: dict[str, Any] = {}
        for field in descriptor.fields:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                assert field.message_type is not None
                item = _schema(field.message_type, schemas)
            elif field.type == FieldDescriptor.TYPE_ENUM:
                assert field.enum_type is not None
                item = _enum(field.enum_type)
            else:
                item = dict(_SCALARS[field.type])
            if getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED:
                item = {"type": "array", "items": item}
            properties[field.name] = {**item, "x-protobuf-field-number": field.number}
        schemas[name] = {"type": "object", "properties": properties}
    return {"$ref": f"#/components/schemas/{name}"}


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for message in REGION_MESSAGES:
        descriptor = message.DESCRIPTOR
        messages[descriptor.name] = {
            "name": descriptor.full_name,
            "contentType": CONTENT_TYPE,
            "summary": f"protobuf {descriptor.full_name} (binary on the wire; the schema "
            "lists its fields as the proto3 JSON mapping names them)",
            "payload": _schema(descriptor, schemas),
            "bindings": {
                "amqp": {
                    "contentEncoding": "identity",
                    "messageType": descriptor.full_name,
                    "bindingVersion": "0.3.0",
                }
            },
            "headers": {
                "type": "object",
                "description": "AMQP properties: message_id is the event id (deduplicate on "
                "it), type is the message's full name, content_type application/x-protobuf, "
                "delivery_mode 2 (persistent), timestamp the publication time.",
            },
        }
    refs = [{"$ref": f"#/channels/regionQueue/messages/{n}"} for n in messages]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "crossclear region queue",
            "version": "1.0.0",
            "description": "What a pooling region (a pool or a province centre) receives on "
            "its own RabbitMQ queue. Delivery is at least once: acknowledge after your own "
            "commit, deduplicate on message_id; an unacknowledged message is redelivered, "
            "and after the delivery limit it is dead-lettered. Generated from events.proto.",
        },
        "channels": {
            "regionQueue": {
                "address": "{namespace}.region.{code}",
                "parameters": {
                    "namespace": {"description": "the deployment's bus namespace (crossclear)"},
                    "code": {"description": "6-digit pool code or 2-digit province code"},
                },
                "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in messages},
                "bindings": {
                    "amqp": {
                        "is": "queue",
                        "queue": {"durable": True, "exclusive": False, "autoDelete": False},
                        "bindingVersion": "0.3.0",
                    }
                },
            }
        },
        "operations": {
            "receiveRegionMessages": {
                "action": "receive",
                "channel": {"$ref": "#/channels/regionQueue"},
                "messages": refs,
                "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
            }
        },
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
