"""The trade parser of the market-data edge: the symbol, price and time of a trade message,
the same on its fast path as through ``json.loads``, whatever the layout."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.binance.trade_parse import TradeParser, UnreadableTrade

AGG = {"e": "aggTrade", "E": 1672515782136, "s": "BNBBTC", "a": 12345, "p": "0.00123400",
       "q": "100.00000000", "f": 100, "l": 105, "T": 1672515782130, "m": True, "M": True}
TRADE = {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.00123400",
         "q": "100.00000000", "T": 1672515782130, "m": True, "M": True}


def combined(data: dict) -> bytes:
    stream = f"{data['s'].lower()}@{data['e']}"
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":")).encode()


def raw(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def parsed(parser: TradeParser, message: bytes):
    found = parser.trade(message)
    return found if found is not None else parser.slow(message)[0]


@pytest.mark.parametrize("message", [combined(AGG), raw(AGG), combined(TRADE), raw(TRADE)],
                         ids=["aggTrade-combined", "aggTrade-raw", "trade-combined", "trade-raw"])
def test_the_first_message_is_read_slowly_and_teaches_the_fast_path(message):
    parser = TradeParser()

    first_fast = parser.trade(message)
    slow = parser.slow(message)[0]
    second_fast = parser.trade(message)

    assert first_fast is None
    assert slow == second_fast == (b"BNBBTC", b"0.00123400", b"1672515782130")


def test_a_message_in_another_layout_leaves_the_fast_path_and_is_still_read():
    parser = TradeParser()
    parser.slow(combined(AGG))
    reordered = raw({"s": "ETHBTC", "e": "aggTrade", "T": 1, "p": "0.05", "x": "y"})

    fast = parser.trade(reordered)
    slow = parser.slow(reordered)[0]

    assert fast is None
    assert slow == (b"ETHBTC", b"0.05", b"1")
    assert parser.trade(reordered) == slow  # the new layout learned


@given(st.permutations(list(AGG)), st.integers(0, 2**53), st.booleans())
def test_the_fast_path_agrees_with_json_in_any_key_order(keys, ms, wrap):
    data = {k: AGG[k] for k in keys} | {"T": ms}
    message = combined(data) if wrap else raw(data)
    parser = TradeParser()
    parser.slow(message)

    assert parser.trade(message) == (b"BNBBTC", b"0.00123400", str(ms).encode())


def test_answers_and_notices_are_handed_back_decoded():
    parser = TradeParser()
    parser.slow(combined(AGG))
    notice = b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}'
    raw_notice = b'{"e":"serverShutdown","E":1}'
    answer = b'{"result":null,"id":7}'

    assert [parser.trade(m) for m in (notice, raw_notice, answer)] == [None, None, None]
    assert parser.slow(notice) == (None, {"e": "serverShutdown", "E": 1})
    assert parser.slow(raw_notice) == (None, {"e": "serverShutdown", "E": 1})
    assert parser.slow(answer) == (None, {"result": None, "id": 7})


@pytest.mark.parametrize("price", ["1e5", "-1.5", "01.5", ".5", "1.2.3", "", "12,5", "NaN"])
def test_a_price_in_any_other_notation_is_refused_on_both_paths(price):
    parser = TradeParser()
    parser.slow(combined(AGG))
    message = combined(AGG | {"p": price})

    with pytest.raises(UnreadableTrade):
        parser.trade(message)
    with pytest.raises(UnreadableTrade):
        TradeParser().slow(message)


def test_a_trade_time_that_is_not_a_whole_number_is_refused():
    parser = TradeParser()
    parser.slow(combined(AGG))

    with pytest.raises(UnreadableTrade):
        TradeParser().slow(combined(AGG | {"T": 1.5}))
    with pytest.raises(UnreadableTrade):
        parser.trade(combined(AGG | {"T": "17"}))  # a string
    with pytest.raises(UnreadableTrade):
        parser.slow(combined(AGG | {"T": "17"}))


def test_unreadable_json_is_a_value_error():
    with pytest.raises(ValueError):
        TradeParser().slow(b'{"stream":')
