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
