"""Structured logs: key=value and JSON lines parse back; secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging
import re
from decimal import Decimal

import pytest

from core.types import OrderState
from telemetry.logs import configure_logging, log_event, log_order_event

SECRET = 'k3y-"with\\quotes"-0123456789'
KV_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _parse_kv(line: str) -> dict[str, str]:
    pairs = {}
    for key, value in KV_PAIR.findall(line):
        pairs[key] = json.loads(value) if value.startswith('"') else value
    assert " ".join(f"{k}={v}" for k, v in KV_PAIR.findall(line)) == line
    return pairs


def _capture(fmt: str, emit) -> list[str]:
    stream = io.StringIO()
    configure_logging(fmt, level="DEBUG", stream=stream)
    emit(logging.getLogger("ratchet.test"))
    return stream.getvalue().splitlines()


def test_kv_lines_parse_back_with_exact_decimals():
    (line,) = _capture("kv", lambda log: log_event(
        log, "stop_moved", symbol="BTCUSDT", stop=Decimal("45000.10"), note="moved up 0.2 %",
        filled=None, live=True))

    pairs = _parse_kv(line)

    assert pairs["level"] == "info"
    assert pairs["logger"] == "ratchet.test"
    assert pairs["event"] == "stop_moved"
    assert pairs["stop"] == "45000.10"
    assert pairs["note"] == "moved up 0.2 %"
    assert pairs["filled"] == "null"
    assert pairs["live"] == "true"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", pairs["ts"])


def test_json_lines_are_one_object_each_with_decimals_as_strings():
    lines = _capture("json", lambda log: [
        log_event(log, "tick", symbol="BTCUSDT", price=Decimal("46319.5"), qty=Decimal("1E-5")),
        log_event(log, "halted", level=logging.WARNING, symbol="ETHUSDT", reason="6 failures"),
    ])

    first, second = (json.loads(line) for line in lines)

    assert first["event"] == "tick"
    assert first["price"] == "46319.5"
    assert Decimal(first["qty"]) == Decimal("0.00001")
    assert second["level"] == "warning"
    assert second["reason"] == "6 failures"


@pytest.mark.parametrize("fmt", ["kv", "json"])
def test_order_events_carry_symbol_client_order_id_and_state(fmt):
    (line,) = _capture(fmt, lambda log: log_order_event(
        log, "order_accepted", symbol="BTCUSDT", client_order_id="rt7f3a-4",
        state=OrderState.NEW, price=Decimal("45000")))

    pairs = json.loads(line) if fmt == "json" else _parse_kv(line)

    assert (pairs["symbol"], pairs["client_order_id"], pairs["state"]) == \
        ("BTCUSDT", "rt7f3a-4", "NEW")


def test_plain_library_records_keep_their_message():
    (line,) = _capture("kv", lambda log: logging.getLogger("pykka").warning("actor %s died", "x"))

    pairs = _parse_kv(line)

    assert (pairs["event"], pairs["msg"], pairs["logger"]) == ("log", "actor x died", "pykka")


def test_an_exception_stays_on_one_line():
    def emit(log):
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")

    (line,) = _capture("kv", emit)

    assert "ValueError: boom" in _parse_kv(line)["exc"]


def test_a_field_named_like_a_reserved_key_does_not_overwrite_it():
    (line,) = _capture("json", lambda log: log_event(log, "x", level=logging.INFO,
                                                     logger="mine", ts="then"))

    pairs = json.loads(line)

    assert pairs["logger"] == "ratchet.test"
    assert (pairs["field_logger"], pairs["field_ts"]) == ("mine", "then")


@pytest.mark.parametrize("fmt", ["kv", "json"])
@pytest.mark.parametrize("variable", ["RATCHET_API_KEY", "RATCHET_API_SECRET",
                                      "RATCHET_DB_PASSWORD", "DB_PASSWORD"])
def test_secrets_from_the_environment_are_redacted(monkeypatch, fmt, variable):
    monkeypatch.setenv(variable, SECRET)

    def emit(log):
        log.info("connecting with %s", SECRET)
        log_event(log, "config", key=SECRET, nested={"secret": SECRET})
        try:
            raise RuntimeError(f"auth failed for {SECRET}")
        except RuntimeError:
            log.exception("auth")

    output = "\n".join(_capture(fmt, emit))

    assert SECRET not in output
    assert json.dumps(SECRET)[1:-1] not in output
    assert "***" in output


def test_debug_is_dropped_at_info_level():
    stream = io.StringIO()
    configure_logging("kv", level="INFO", stream=stream)

    log_event(logging.getLogger("ratchet.test"), "noise", level=logging.DEBUG)

    assert stream.getvalue() == ""


def test_configuring_twice_keeps_one_handler():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("kv", stream=first)
    configure_logging("json", stream=second)

    log_event(logging.getLogger("ratchet.test"), "once")

    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["event"] == "once"


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="kv"):
        configure_logging("xml")


def test_a_bad_format_string_does_not_raise_into_the_caller(monkeypatch):
    monkeypatch.setenv("RATCHET_API_KEY", SECRET)
    monkeypatch.setattr(logging, "raiseExceptions", False)

    lines = _capture("kv", lambda log: log.info("%d items", "not a number"))

    assert lines == []
