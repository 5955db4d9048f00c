from __future__ import annotations

import pytest

from shared.grpc_client import development_server_name


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1:50051", "localhost"),
        ("[::1]:50051", "localhost"),
        ("filing.internal:50051", None),
        ("localhost:50051", None),
    ],
)
def test_an_address_is_checked_as_localhost_a_name_as_itself(
    target: str, expected: str | None
) -> None:
    assert development_server_name(target) == expected
