import io
import logging

import structlog

from shared.logging import configure_logging


def test_identity_numbers_names_and_phones_never_in_clear() -> None:
    resident_id = "11010519491231002X"
    name = "张三丰"
    phone = "13812345678"
    stream = io.StringIO()
    configure_logging("INFO", "json", service="test", stream=stream)
    log = structlog.get_logger("test")
    log.info(
        "person registered",
        psn_name=name,
        certno=resident_id,
        phone=phone,
        note=f"caller said id {resident_id} and phone {phone}",
        nested={"patient_name": name, "contacts": [phone]},
        msgid="H450100000012026112210300000001"[:30],
        pool="450100",
    )
    logging.getLogger("grpc").warning("stdlib line mentions %s", resident_id)
    out = stream.getvalue()
    assert out.count("\n") == 2
    for secret in (resident_id, name, phone):
        assert secret not in out, f"{secret} leaked: {out}"
    assert "1101" in out and "002X" in out  # first 4 and last 4 kept for tracing
    assert "H45010000001202611221030000000" in out  # msgids stay intact
    assert '"pool": "450100"' in out
