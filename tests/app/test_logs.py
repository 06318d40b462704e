"""Logging: JSON lines with extra fields, text for people, the access log off the hot path."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest

from app.logs import AccessLog, JSONFormatter, TextFormatter, configure, utc_stamp


def make_record(msg: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("crunch.test")
    return logger.makeRecord(
        "crunch.test", logging.WARNING, __file__, 1, msg, args or ("world",), None, extra=extra
    )


def test_json_formatter_writes_one_valid_json_object() -> None:
    line = JSONFormatter().format(make_record())
    assert "\n" not in line
    out = json.loads(line)
    assert (out["level"], out["logger"], out["message"]) == (
        "warning",
        "crunch.test",
        "hello world",
    )


def test_json_formatter_time_is_iso_with_milliseconds() -> None:
    out = json.loads(JSONFormatter().format(make_record()))
    assert out["time"][10] == "T"
    assert out["time"].endswith("Z")


def test_json_formatter_includes_extra_fields() -> None:
    out = json.loads(JSONFormatter().format(make_record(request_id="r1", status=503)))
    assert (out["request_id"], out["status"]) == ("r1", 503)


def test_json_formatter_leaves_out_standard_record_attributes() -> None:
    out = json.loads(JSONFormatter().format(make_record()))
    assert not {"args", "msg", "levelno", "pathname", "lineno"} & set(out)


def test_json_formatter_turns_unserializable_extras_into_text() -> None:
    out = json.loads(JSONFormatter().format(make_record(thing=object())))
    assert out["thing"].startswith("<object object")


def test_json_formatter_includes_the_exception() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    out = json.loads(JSONFormatter().format(record))
    assert "ValueError: bad" in out["exc"]


def test_text_formatter_appends_extras_as_key_value() -> None:
    line = TextFormatter().format(make_record(request_id="r1"))
    assert "crunch.test: hello world" in line
    assert line.endswith(" request_id=r1")


def test_access_log_writes_nothing_before_flush() -> None:
    out = io.StringIO()
    access_log = AccessLog(stream=out)
    access_log.record("r1", "GET", "/x", 200, 0.001, "1.2.3.4")
    assert out.getvalue() == ""


def test_access_log_flush_writes_one_json_line_per_request() -> None:
    out = io.StringIO()
    access_log = AccessLog("json", stream=out)
    access_log.record("r1", "GET", "/x", 200, 0.0015, "1.2.3.4")
    access_log.record("r2", "POST", "/y", 503, 0.5, "-")
    access_log.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["GET /x 200", "POST /y 503"]


def test_access_log_line_carries_request_fields() -> None:
    out = io.StringIO()
    access_log = AccessLog("json", stream=out)
    access_log.record("r1", "GET", "/x", 200, 0.0015, "1.2.3.4")
    access_log.flush()
    line = json.loads(out.getvalue())
    fields = {k: line[k] for k in ("request_id", "status", "duration_ms", "client", "logger")}
    assert fields == {
        "request_id": "r1",
        "status": 200,
        "duration_ms": 1.5,
        "client": "1.2.3.4",
        "logger": "crunch.access",
    }


def test_access_log_text_format_is_one_readable_line() -> None:
    out = io.StringIO()
    access_log = AccessLog("text", stream=out)
    access_log.record("r1", "GET", "/x", 200, 0.0015, "1.2.3.4")
    access_log.flush()
    assert "crunch.access: GET /x 200 request_id=r1 duration_ms=1.5" in out.getvalue()


def test_access_log_flush_empties_the_buffer() -> None:
    out = io.StringIO()
    access_log = AccessLog(stream=out)
    for i in range(200):  # more than one chunk
        access_log.record(f"r{i}", "GET", "/x", 200, 0.0, "-")
    access_log.flush()
    access_log.flush()
    assert len(out.getvalue().splitlines()) == 200


def test_access_log_stop_writes_what_is_left() -> None:
    out = io.StringIO()
    access_log = AccessLog(stream=out, interval=60)
    access_log.start()
    access_log.record("r1", "GET", "/x", 200, 0.0, "-")
    access_log.stop()
    assert json.loads(out.getvalue())["message"] == "GET /x 200"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.Formatter.converter)
    access = logging.getLogger("uvicorn.access")
    access_disabled = access.disabled
    yield
    root.handlers[:], root.level, logging.Formatter.converter = saved[0], saved[1], saved[2]
    access.disabled = access_disabled


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("fmt", "formatter"), [("json", JSONFormatter), ("text", TextFormatter)])
def test_configure_installs_one_handler_with_the_format(
    fmt: str, formatter: type[logging.Formatter]
) -> None:
    configure(fmt, "warning")
    root = logging.getLogger()
    assert [type(h.formatter) for h in root.handlers] == [formatter]
    assert root.level == logging.WARNING


@pytest.mark.usefixtures("restore_logging")
def test_configure_silences_uvicorns_access_log() -> None:
    configure("json", "info")
    assert logging.getLogger("uvicorn.access").disabled is True


def test_text_lines_carry_the_access_logs_timestamp_format() -> None:
    record = make_record()
    line = TextFormatter().format(record)
    out = io.StringIO()
    access_log = AccessLog("text", stream=out)
    access_log.record("r1", "GET", "/x", 200, 0.0015, "1.2.3.4")
    access_log.flush()
    for text in (line, out.getvalue()):
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", text), text
    assert line.startswith(utc_stamp(record.created))
