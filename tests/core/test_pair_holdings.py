"""The pair machine with native trailing stops and adopted coins (DESIGN.md §3b), table-driven
in the style of ``test_pair_machine``: a native stop is placed without a stop price and never
moved, its trigger is seen from the venue rule tracked from the first price after placement,
its timeout runs; a free balance becomes an adopted position with its stop, later coins grow
the stop, a balance below the position asks about the stop and a refusal for coins halts the
pair saying why. Nothing is ever bought."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from typing import Any

import pytest

from core.commands import (
    BalanceSeen,
    CancelOrder,
    OrderUpdated,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
    ReplaceStop,
    StopReplaced,
)
from core.errors import INSUFFICIENT_BALANCE
from core.pair_machine import Halt, Pair, PairState, PriceSeen, StopMoved, Write
from core.types import (
    ENTRY_ADOPTED,
    EntryMode,
    OrderState,
    PositionState,
    ReplaceReport,
)
from tests.core.pair_builders import (
    FILL_100,
    FILTERS,
    SETTINGS,
    cid,
    entering,
    ex,
    flat,
    opened,
    refused,
    report,
    run,
    sends,
    shape,
    stop,
    tick,
)

# trail 10 %: trailingDelta 1000 basis points
NATIVE = Pair(settings=SETTINGS, filters=FILTERS, prefix="rt", trailing_delta=1000)
ADOPT_SETTINGS = replace(SETTINGS, entry=EntryMode.ADOPT)
ADOPT = Pair(settings=ADOPT_SETTINGS, filters=FILTERS, prefix="rt")
ADOPT_KEEP = Pair(settings=replace(ADOPT_SETTINGS, keep_qty=D("0.5")), filters=FILTERS)
ADOPT_NATIVE = Pair(settings=ADOPT_SETTINGS, filters=FILTERS, trailing_delta=1000)


def native_stop(seq: int = 2, state: OrderState = OrderState.NEW, qty: str = "1", **kw: Any):
    return replace(stop(seq, state, qty=qty, **kw), stop_price=None, trailing_delta=1000)


def native_open(*orders, last: str = "105", **changes: Any) -> PairState:
    """OPEN, highest 110, a native stop (limit 98.01) and its estimate 99."""
    return opened(*(orders or (native_stop(),)), last=last, trailing_delta=1000, **changes)


def balance(free: str, locked: str = "0", asset: str = "BTC") -> BalanceSeen:
    return BalanceSeen(asset=asset, free=D(free), locked=D(locked))


def adopted_open(*orders, **changes: Any) -> PairState:
    return opened(*orders, entry_kind=ENTRY_ADOPTED, entry_fee=D(0), **changes)


def grown(old, new_qty: str, **kw: Any) -> StopReplaced:
    new = replace(old, client_order_id=cid(3), qty=D(new_qty), state=OrderState.PENDING_NEW,
                  replaces=old.client_order_id, **kw)
    return StopReplaced(old=old, new=new, report=ReplaceReport(
        canceled=report(old, OrderState.CANCELED), new=report(new, OrderState.NEW)))


@dataclass(frozen=True)
class Case:
    pair: Pair
    state: PairState
    events: tuple[Any, ...]
    becomes: PositionState
    world: list[str]
    check: Callable[[PairState, list[Any]], Any] = field(default=lambda s, e: True)


CASES = [
    # native: placement
    pytest.param(Case(NATIVE, entering(), (OrderUpdated(report=FILL_100, reply=True),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: (sends(e)[0].order.stop_price, sends(e)[0].order.limit_price,
                                    sends(e)[0].order.trailing_delta, s.position.stop,
                                    s.position.trailing_delta) == (None, D("89.10"), 1000, D(90),
                                                                   1000)),
                 id="native-entry-places-one-trailing-stop-without-stop-price"),
    pytest.param(Case(NATIVE, native_open(), (OrderUpdated(report=report(
        native_stop(), OrderState.CANCELED)),), PositionState.OPEN, ["write-ahead", "PlaceStop"],
        lambda s, e: (sends(e)[0].order.limit_price, sends(e)[0].order.trailing_delta,
                      s.position.stop) == (D("98.01"), 1000, D(99))),
        id="native-stop-gone-placed-again-limit-from-max-highest-last"),
    pytest.param(Case(NATIVE, native_open(last="98"), (OrderUpdated(report=report(
        native_stop(), OrderState.CANCELED)),), PositionState.EXITING,
        ["write-ahead", "PlaceMarketOrder"]),
        id="native-stop-gone-with-the-price-below-the-estimate-exits"),
    # native: each price
    pytest.param(Case(NATIVE, native_open(), (PriceSeen(tick=tick("130", ts=1001)),),
                      PositionState.OPEN, [],
                      lambda s, e: (s.position.highest, s.position.stop, s.position.stop_moves,
                                    s.trail.peak) == (D(130), D(117), 0, D(130))),
                 id="native-new-high-raises-the-estimate-never-moves-the-stop"),
    pytest.param(Case(NATIVE, native_open(), (PriceSeen(tick=tick("100", ts=1001)),
                                              PriceSeen(tick=tick("90.01", ts=1002))),
                      PositionState.OPEN, [],
                      lambda s, e: (s.position.triggered_at, s.trail.peak) == (None, D(100))),
                 id="native-mirror-tracks-from-the-first-price-not-from-highest"),
    pytest.param(Case(NATIVE, native_open(), (PriceSeen(tick=tick("100", ts=1001)),
                                              PriceSeen(tick=tick("90", ts=1002))),
                      PositionState.OPEN, [],
                      lambda s, e: s.position.triggered_at == D(1002)
                      and any(isinstance(w, Write) and w.positions for w in e)),
                 id="native-mirror-trigger-starts-the-timeout"),
    pytest.param(Case(NATIVE, native_open(triggered_at=D(1000)),
                      (PriceSeen(tick=tick("89", ts=1060)),), PositionState.EXITING,
                      ["write-ahead", "CancelOrder"],
                      lambda s, e: s.position.exit_reason == "timeout"),
                 id="native-timeout-after-the-trigger-exits"),
    pytest.param(Case(NATIVE, native_open(native_stop(state=OrderState.PENDING_NEW),
                                          in_flight=frozenset({cid(2)})),
                      (PriceSeen(tick=tick("50", ts=1001)),), PositionState.OPEN, [],
                      lambda s, e: s.trail is None and s.position.triggered_at is None),
                 id="native-mirror-waits-until-the-stop-is-on-the-venue"),
    pytest.param(Case(NATIVE, native_open(), (OrderUpdated(report=report(
        native_stop(), OrderState.NEW, triggered_ts=995)),), PositionState.OPEN, [],
        lambda s, e: s.position.triggered_at == D(995)),
        id="native-venue-reports-the-trigger-its-clock-starts-the-timeout"),
    pytest.param(Case(NATIVE, native_open(), (OrderUpdated(report=report(
        native_stop(), OrderState.FILLED, ex("97"))),), PositionState.FLAT,
        ["write-ahead", "closed"], lambda s, e: s.position.exit_reason == "stop"),
        id="native-stop-filled-closes"),
    # adopt: a free balance while flat
    pytest.param(Case(ADOPT, flat(last_price=D(100), last_time="t9"), (balance("1.5"),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: (s.position.qty, s.position.entry_price, s.position.highest,
                                    s.position.entry_kind, s.position.entry_fee,
                                    s.position.entry_time, sends(e)[0].order.qty,
                                    sends(e)[0].order.stop_price) ==
                      (D("1.5"), D(100), D(100), ENTRY_ADOPTED, D(0), "t9", D("1.5"), D(90))),
                 id="adopt-free-balance-opens-an-adopted-position-with-its-stop"),
    pytest.param(Case(ADOPT_KEEP, flat(last_price=D(100)), (balance("1.5"),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: sends(e)[0].order.qty == D(1)),
                 id="adopt-keep-qty-is-left-alone"),
    pytest.param(Case(ADOPT_KEEP, flat(last_price=D(100)), (balance("0.54"),),
                      PositionState.FLAT, []), id="adopt-what-is-left-below-min-notional-waits"),
    pytest.param(Case(ADOPT, flat(last_price=D(100)), (balance("1.23456"),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: sends(e)[0].order.qty == D("1.234")),
                 id="adopt-floors-to-the-step"),
    pytest.param(Case(ADOPT_NATIVE, flat(last_price=D(100)), (balance("1"),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: (sends(e)[0].order.trailing_delta,
                                    sends(e)[0].order.stop_price) == (1000, None)),
                 id="adopt-native-places-a-native-stop"),
    pytest.param(Case(ADOPT, flat(), (balance("1"), PriceSeen(tick=tick("100"))),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"]),
                 id="adopt-balance-before-any-price-waits-for-the-first"),
    pytest.param(Case(ADOPT, flat(), (balance("1"), OrderUpdated(report=report(
        stop(7), OrderState.CANCELED)), PriceSeen(tick=tick("100"))), PositionState.FLAT, []),
        id="adopt-kept-balance-dropped-by-a-venue-event"),
    pytest.param(Case(ADOPT, flat(last_price=D(100), in_flight=frozenset({cid(7)})),
                      (balance("1"),), PositionState.FLAT, []),
                 id="adopt-balance-ignored-while-an-answer-is-due"),
    pytest.param(Case(ADOPT, flat(last_price=D(100)), (balance("1", asset="ETH"),),
                      PositionState.FLAT, []), id="adopt-other-asset-ignored"),
    pytest.param(Case(Pair(settings=SETTINGS, filters=FILTERS),
                      flat(last_price=D(100), closed_on_this_price=True), (balance("1"),),
                      PositionState.FLAT, []), id="entry-always-ignores-balances"),
    pytest.param(Case(ADOPT, flat(), (PriceSeen(tick=tick("100")), PriceSeen(tick=tick("101"))),
                      PositionState.FLAT, []), id="adopt-never-buys"),
    # adopt: later coins and coins gone
    pytest.param(Case(ADOPT, adopted_open(last="105"), (balance("0.5", locked="1"),),
                      PositionState.OPEN, ["write-ahead", "ReplaceStop"],
                      lambda s, e: (sends(e)[0].new.qty, sends(e)[0].new.stop_price,
                                    sends(e)[0].new.limit_price, sends(e)[0].gap, s.position.qty)
                      == (D("1.5"), D(99), D("98.01"), D(0), D(1))),
                 id="adopt-top-up-replaces-the-stop-for-more-at-the-same-price"),
    pytest.param(Case(ADOPT, replace(adopted_open(in_flight=frozenset({cid(3)}), seq=3),
                                     topup_price=D(106)),
                      (grown(stop(), "1.5"),), PositionState.OPEN, [],
                      lambda s, e: (s.position.qty, s.position.entry_price, s.position.stop,
                                    s.position.stop_order_id, s.position.stop_moves) ==
                      (D("1.5"), D(102), D(99), cid(3), 0)
                      and not any(isinstance(x, StopMoved) for x in e)),
                 id="adopt-top-up-done-weights-the-entry-price-and-is-not-a-move"),
    pytest.param(Case(ADOPT_NATIVE, native_open(entry_kind=ENTRY_ADOPTED),
                      (balance("2", locked="1"),), PositionState.OPEN,
                      ["write-ahead", "ReplaceStop"],
                      lambda s, e: (sends(e)[0].new.qty, sends(e)[0].new.trailing_delta,
                                    sends(e)[0].new.stop_price, sends(e)[0].new.limit_price) ==
                      (D(3), 1000, None, D("98.01"))),
                 id="adopt-top-up-of-a-native-stop-keeps-delta-and-limit"),
    pytest.param(Case(ADOPT, adopted_open(triggered_at=D(990)), (balance("1", locked="1"),),
                      PositionState.OPEN, []), id="adopt-no-top-up-while-the-stop-is-triggered"),
    pytest.param(Case(ADOPT, adopted_open(), (balance("0.04", locked="1"),),
                      PositionState.OPEN, []), id="adopt-dust-is-not-a-top-up"),
    pytest.param(Case(ADOPT, adopted_open(), (balance("0", locked="0.4"),), PositionState.OPEN,
                      ["QueryOrder"], lambda s, e: sends(e)[0].order == stop()),
                 id="adopt-balance-below-the-position-asks-about-the-stop"),
    pytest.param(Case(ADOPT, adopted_open(), (
        balance("0.2", locked="0"),
        OrderUpdated(report=report(stop(), OrderState.CANCELED), reply=True),
        refused(stop(3, OrderState.PENDING_NEW), INSUFFICIENT_BALANCE),
        balance("0.2", locked="0")),
        PositionState.OPEN,
        ["QueryOrder", "write-ahead", "PlaceStop", "ReadBalance", "write-ahead", "PlaceStop"],
        lambda s, e: not s.halted and (s.position.qty, s.position.sold_outside,
                                       sends(e)[-1].order.qty) == (D("0.2"), D("0.8"), D("0.2"))),
        id="adopt-coins-sold-by-hand-protects-what-is-left"),
    pytest.param(Case(ADOPT, adopted_open(), (
        balance("0", locked="0"),
        OrderUpdated(report=report(stop(), OrderState.FILLED, ex("99")), reply=True)),
        PositionState.FLAT, ["QueryOrder", "write-ahead", "closed"]),
        id="adopt-balance-gone-because-the-stop-filled-closes"),
]


@pytest.mark.parametrize("case", CASES)
def test_step(case: Case):
    state, effects = run(case.state, *case.events, pair=case.pair)

    assert state.position.state is case.becomes
    assert shape(effects) == case.world
    assert case.check(state, effects)


@pytest.mark.parametrize("case", CASES)
def test_every_order_sent_was_written_ahead(case: Case):
    _, effects = run(case.state, *case.events, pair=case.pair)
    written = set(case.state.orders)
    for effect in effects:
        if isinstance(effect, Write):
            written |= {o.client_order_id for o in effect.orders}
        elif hasattr(effect, "command") and isinstance(effect.command,
                                                       PlaceMarketOrder | PlaceStop):
            assert effect.command.order.client_order_id in written
        elif hasattr(effect, "command") and isinstance(effect.command, ReplaceStop):
            assert effect.command.new.client_order_id in written


ADOPTING = [c for c in CASES if c.values[0].pair.settings.entry is EntryMode.ADOPT]


@pytest.mark.parametrize("case", ADOPTING)
def test_an_adopting_pair_never_buys(case: Case):
    _, effects = run(case.state, *case.events, pair=case.pair)

    assert not [c for c in sends(effects) if isinstance(c, PlaceMarketOrder)
                and c.order.side.value == "BUY"]


def test_a_native_stop_is_never_moved_on_any_path_of_prices():
    state, effects = run(native_open(), *(PriceSeen(tick=tick(str(p), ts=1000 + i))
                                          for i, p in enumerate(range(106, 200, 3))),
                         pair=NATIVE)

    assert [type(c) for c in sends(effects)] == []
    assert state.position.stop_moves == 0 and state.position.highest == D(199)
    assert state.position.stop == D("179.10")  # the estimate: floor_tick(199 × 0.9)


def test_native_trigger_by_the_mirror_then_timeout_sells_once():
    state, effects = run(native_open(), PriceSeen(tick=tick("120", ts=1001)),
                         PriceSeen(tick=tick("108", ts=1002)),
                         PriceSeen(tick=tick("100", ts=1061)),
                         PriceSeen(tick=tick("99", ts=1062)), pair=NATIVE)

    assert state.position.state is PositionState.EXITING
    assert [type(c) for c in sends(effects)] == [CancelOrder]


def test_a_conflated_tick_counts_its_high_in_the_peak():
    conflated = replace(tick("115", ts=1001, high="125", low="112"), count=5)

    state, _ = run(native_open(), PriceSeen(tick=conflated), pair=NATIVE)

    assert state.trail.peak == D(125) and state.position.triggered_at is None


def test_a_stop_refused_for_coins_never_halts_an_adopting_pair():
    state, effects = run(adopted_open(), refused(stop(), INSUFFICIENT_BALANCE), pair=ADOPT)

    assert not state.halted and not [e for e in effects if isinstance(e, Halt)]
    assert [(type(c).__name__, c.asset) for c in sends(effects)] == [("ReadBalance", "BTC")]


def test_topup_refused_whole_leaves_the_position_and_asks_about_the_old_stop():
    state, effects = run(adopted_open(last="105"), balance("0.5", locked="1"), pair=ADOPT)
    (move,) = sends(effects)
    refused = StopReplaced(old=move.old, new=move.new, report=ReplaceReport(
        canceled=None, new=None, cancel_error="Filter failure: LOT_SIZE",
        new_error="Filter failure: LOT_SIZE"))

    state, more = run(state, refused, pair=ADOPT)

    assert state.position.qty == D(1) and state.position.stop_order_id == cid(2)
    assert [type(c) for c in sends(more)] == [QueryOrder]
