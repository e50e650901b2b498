"""The Feed's conflating slot: a lagging consumer gets one tick with the last price and the
highest and lowest since its last take. A high or a low is never lost."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from actors.conflation import TickSlot

prices = st.decimals(min_value="0.01", max_value="100000", places=2)


@given(st.lists(st.tuples(prices, st.booleans()), min_size=1, max_size=200))
def test_no_high_or_low_is_lost_whatever_the_consumer_lags(stream):
    slot = TickSlot("BTCUSDT")
    pending: list[Decimal] = []
    tells = 0
    for i, (price, consumer_takes) in enumerate(stream):
        tells += slot.put(price, Decimal(i))
        pending.append(price)
        if consumer_takes:
            tick = slot.take()
            assert (tick.price, tick.high, tick.low, tick.count) == \
                (pending[-1], max(pending), min(pending), len(pending))
            pending = []
    tail = slot.take()
    if pending:
        assert (tail.high, tail.low, tail.price) == (max(pending), min(pending), pending[-1])
    else:
        assert tail is None


def test_only_the_first_price_into_an_empty_slot_asks_for_delivery():
    slot = TickSlot("BTCUSDT")

    told = [slot.put(Decimal(p), Decimal(i)) for i, p in enumerate(["10", "12", "9"])]
    tick = slot.take()
    told_again = slot.put(Decimal("11"), Decimal(3))

    assert told == [True, False, False]
    assert (tick.high, tick.low, tick.price) == (Decimal(12), Decimal(9), Decimal(9))
    assert told_again is True


# --- the venue's strings, folded without Decimal ------------------------------------------

#: Plain decimal notation as a venue writes it: the fraction's length varies (Binance pads to
#: 8 places, the sim does not), the integer part has no leading zero.
venue_prices = st.builds(
    lambda whole, frac: whole + (f".{frac}" if frac is not None else ""),
    st.integers(min_value=0, max_value=10**7).map(str),
    st.none() | st.text("0123456789", min_size=1, max_size=8),
)


@given(st.lists(st.tuples(venue_prices, st.booleans()), min_size=1, max_size=200))
def test_venue_strings_conflate_to_their_exact_decimal_high_low_and_last(stream):
    slot = TickSlot("BTCUSDT")
    pending: list[str] = []
    for i, (text, consumer_takes) in enumerate(stream):
        told = slot.put_text(text.encode(), str(1_700_000_000_000 + i).encode(), i)
        assert told == (not pending)
        pending.append(text)
        if consumer_takes:
            tick = slot.take()
            values = [Decimal(p) for p in pending]
            assert (tick.price, tick.high, tick.low, tick.count) == \
                (values[-1], max(values), min(values), len(pending))
            # the venue's string digit for digit, trailing zeros included
            assert tick.price.as_tuple() == Decimal(pending[-1]).as_tuple()
            pending = []
    assert (slot.take() is None) == (not pending)


def test_a_delivery_carries_the_trade_time_of_its_last_price_and_the_arrival_of_its_first():
    slot = TickSlot("BTCUSDT")

    slot.put_text(b"100.5", b"1700000000123", 11)
    slot.put_text(b"99.25000000", b"1700000000456", 22)
    tick = slot.take()

    assert tick.ts == Decimal("1700000000.456")
    assert tick.time == "2023-11-14T22:13:20.456Z"
    assert tick.received_ns == 11
    assert (tick.high, tick.low, tick.price) == (Decimal("100.5"), Decimal("99.25"),
                                                  Decimal("99.25"))


@given(st.lists(st.tuples(venue_prices, st.booleans()), min_size=1, max_size=60))
def test_decimal_and_venue_prices_merge_in_one_slot(stream):
    slot = TickSlot("BTCUSDT")
    pending: list[Decimal] = []
    for i, (text, as_decimal) in enumerate(stream):
        if as_decimal:
            slot.put(Decimal(text), Decimal(i))
        else:
            slot.put_text(text.encode(), str(i * 1000).encode(), 0)
        pending.append(Decimal(text))

    tick = slot.take()

    assert (tick.price, tick.high, tick.low, tick.count) == \
        (pending[-1], max(pending), min(pending), len(pending))
    assert slot.take() is None
