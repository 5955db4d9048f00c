"""The AsyncAPI document regions integrate against agrees with events.proto: regenerated,
it is byte-identical to the committed one, and it names every field of every message a
region queue carries."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.asyncapi import REGION_MESSAGES, render
from shared.bus.names import region_queue

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"


def test_the_committed_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: python -m shared.asyncapi > docs/asyncapi.yaml"
    )


def test_every_field_of_every_region_message_is_documented() -> None:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    for message in REGION_MESSAGES:
        descriptor = message.DESCRIPTOR
        documented = schemas[descriptor.full_name]["properties"]
        assert {f.name: f.number for f in descriptor.fields} == {
            name: spec["x-protobuf-field-number"] for name, spec in documented.items()
        }, descriptor.full_name
    address = document["channels"]["regionQueue"]["address"]
    assert address.format(namespace="crossclear", code="450100") == region_queue(
        "crossclear", "450100"
    )
