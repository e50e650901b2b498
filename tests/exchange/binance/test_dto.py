"""Every recorded Binance fixture parses, with Decimals exactly as Binance wrote them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.types import OrderState, OrderType, Side
from exchange.binance import translate
from exchange.binance.dto import (
    CancelReplaceDTO,
    ExchangeInfoDTO,
    ExecutionReportDTO,
    OrderDTO,
    SymbolDTO,
    TradeEventDTO,
)
from exchange.binance.errors import MalformedResponse
from exchange.binance.filters import rules_from_symbol
from tests.conftest import FIXTURES


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_every_fixture_is_covered_by_a_parse_test():
    covered = {
        "exchange_info_2021_BTCUSDT_ETHUSDT.json", "exchange_info_symbol_BTCUSDT_modern.json",
        "execution_report_trade_filled_BTCUSD.json", "open_orders_LTCUSDT.json",
        "order_get_filled_market_LTCUSDT.json", "order_post_new_limit_SOLUSDT.json",
    }
    assert {p.name for p in FIXTURES.glob("*.json")} == covered


def test_exchange_info_envelope_parses_with_rate_limits_and_filters():
    info = ExchangeInfoDTO.parse(load("exchange_info_2021_BTCUSDT_ETHUSDT.json"))

    assert info.serverTime == 1634942465856
    assert [(r.rateLimitType, r.interval, r.intervalNum, r.limit) for r in info.rateLimits] == [
        ("REQUEST_WEIGHT", "MINUTE", 1, 1200), ("ORDERS", "SECOND", 10, 50),
        ("ORDERS", "DAY", 1, 160000), ("RAW_REQUESTS", "MINUTE", 5, 6100),
    ]
    btc = rules_from_symbol(info.symbols[0])
    assert (btc.symbol, btc.base_asset, btc.quote_asset) == ("BTCUSDT", "BTC", "USDT")
    assert str(btc.tick) == "0.01000000" and str(btc.step) == "0.00001000"
    assert btc.min_notional == Decimal("10")  # the legacy MIN_NOTIONAL filter


def test_modern_symbol_reads_min_notional_from_the_notional_filter():
    rules = rules_from_symbol(SymbolDTO.parse(load("exchange_info_symbol_BTCUSDT_modern.json")))

    assert rules.min_notional == Decimal("5.00000000")
    assert rules.max_notional == Decimal("9000000")
    assert rules.max_qty == Decimal("9000") and rules.min_qty == Decimal("0.00001")
    assert rules.to_core().tick == Decimal("0.01")


def test_new_limit_order_response_parses_exactly():
    dto = OrderDTO.parse(load("order_post_new_limit_SOLUSDT.json"))
    report = translate.order_report(dto)

    assert dto.orderId == 9780331417 and dto.transactTime == 1737635557417
    assert str(dto.price) == "241.00000000" and str(dto.origQty) == "0.05000000"
    assert (report.state, report.type, report.side) == (OrderState.NEW, OrderType.LIMIT, Side.BUY)
    assert report.limit_price == Decimal("241") and report.stop_price is None
    assert report.executions == () and report.exchange_order_id == "9780331417"


def test_filled_market_order_keeps_quote_quantity_and_has_no_limit_price():
    dto = OrderDTO.parse(load("order_get_filled_market_LTCUSDT.json"))
    report = translate.order_report(dto)

    assert dto.cummulativeQuoteQty / dto.executedQty == Decimal("90.8")
    assert report.state is OrderState.FILLED and report.type is OrderType.MARKET
    assert report.limit_price is None and report.executed_qty == Decimal("0.1")
    assert report.client_order_id == "x-R4BD3S825806ed40c861260428a48c"


def test_open_orders_listing_parses_a_post_only_order_as_a_limit():
    rows = load("open_orders_LTCUSDT.json")
    reports = [translate.order_report(OrderDTO.parse(r)) for r in rows]

    assert len(reports) == 1
    assert reports[0].type is OrderType.LIMIT  # LIMIT_MAKER: lossy by design
    assert reports[0].state.is_open and reports[0].qty == Decimal("0.2")


def test_execution_report_trade_carries_one_execution_with_its_commission():
    event = load("execution_report_trade_filled_BTCUSD.json")["data"]
    report = translate.execution_report(ExecutionReportDTO.parse(event))

    assert report.state is OrderState.FILLED and report.side is Side.SELL
    (fill,) = report.executions
    assert (fill.trade_id, fill.price, fill.qty) == ("88685053", Decimal("117290.77"),
                                                     Decimal("0.00042"))
    assert str(fill.fee) == "0.00492621" and fill.fee_asset == "USD"
    assert fill.ts == Decimal("1759347763.167")
    assert fill.time == "2025-10-01T19:42:43.167+00:00"


def test_cancel_response_reports_the_original_client_id():
    raw = {**load("order_post_new_limit_SOLUSDT.json"), "status": "CANCELED",
           "origClientOrderId": "rt-p1-3", "clientOrderId": "cancel-req-9"}

    report = translate.order_report(OrderDTO.parse(raw))

    assert report.client_order_id == "rt-p1-3" and report.state is OrderState.CANCELED


def test_cancel_replace_partial_failure_reads_both_halves():
    new_half = {**load("order_post_new_limit_SOLUSDT.json"), "type": "STOP_LOSS_LIMIT",
                "side": "SELL", "stopPrice": "242.00000000", "clientOrderId": "rt-p1-4"}
    data = {"cancelResult": "FAILURE", "newOrderResult": "SUCCESS",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
            "newOrderResponse": new_half}

    report = translate.replace_report(CancelReplaceDTO.parse(data))

    assert report.canceled is None and report.cancel_error_code == -2011
    assert report.new is not None and report.new.client_order_id == "rt-p1-4"
    assert report.new.stop_price == Decimal("242") and report.new.limit_price == Decimal("241")


def test_cancel_replace_not_attempted_half_is_an_error_without_a_report():
    data = {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
            "newOrderResponse": None}

    report = translate.replace_report(CancelReplaceDTO.parse(data))

    assert report.new is None and report.new_error == "NOT_ATTEMPTED"


def test_trade_stream_payload_parses_price_and_time():
    frame = {"e": "trade", "E": 1, "s": "BTCUSDT", "t": 5, "p": "46319.01000000",
             "q": "0.00100000", "T": 1641000000123, "m": False, "M": True}

    trade = TradeEventDTO.parse(frame)

    assert str(trade.p) == "46319.01000000" and translate.ms_to_s(trade.T) == \
        Decimal("1641000000.123")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        pytest.param({"symbol": "X", "price": 0.1}, "float price", id="float-price"),
        pytest.param({"symbol": "X", "price": True}, "bool price", id="bool-price"),
        pytest.param({"symbol": "X", "price": "NaN"}, "not finite", id="nan-price"),
        pytest.param({"symbol": "X"}, "missing", id="missing-price"),
        pytest.param(["X"], "not an object", id="list-body"),
    ],
)
def test_a_price_that_is_not_a_decimal_string_is_refused(raw, why):
    from exchange.binance.dto import TickerPriceDTO

    with pytest.raises(MalformedResponse):
        TickerPriceDTO.parse(raw)


def test_an_order_id_that_is_not_an_int_is_refused():
    raw = {**load("order_post_new_limit_SOLUSDT.json"), "orderId": 1.5}

    with pytest.raises(MalformedResponse):
        OrderDTO.parse(raw)
