"""The refusal table in the pair machine: each class of refusal of a protective order has one
answer, none of them a halt; time moves retries, the unprotected exit and the stop-fill timeout
without prices; a halt stops entries only (``core.refusals``, ``core.pair_guard``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from typing import Any

import pytest

from core.commands import (
    BalanceSeen,
    CancelRefused,
    FiltersRefreshed,
    MarketReopened,
    OrderUpdated,
    StraysCanceled,
)
from core.errors import INSUFFICIENT_BALANCE
from core.pair_machine import (
    AdoptSkipped,
    GatewayRestarted,
    Halt,
    Log,
    Pair,
    PairState,
    PriceSeen,
    TimePassed,
)
from core.types import EntryMode, OrderState, PositionState
from tests.core.pair_builders import (
    FILTERS,
    SETTINGS,
    SYM,
    cid,
    exiting,
    flat,
    opened,
    refused,
    report,
    run,
    sale,
    sends,
    shape,
    stop,
    tick,
)


@dataclass(frozen=True)
class Case:
    state: PairState
    events: tuple[Any, ...]
    becomes: PositionState
    world: list[str]
    check: Callable[[PairState, list[Any]], Any] = field(default=lambda s, e: True)
    pair: Pair = Pair(settings=SETTINGS, filters=FILTERS, prefix="rt")


def placing() -> PairState:
    """OPEN, its first stop (2) on its way to the venue."""
    return opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)}))


CLOSED = "Market is closed."
BAND = "Filter failure: PERCENT_PRICE_BY_SIDE"
DUPLICATE = "Duplicate order sent."
COARSER = replace(FILTERS, tick=D("0.1"))
SHORT_FUSE = Pair(settings=replace(SETTINGS, unprotected_exit_s=D(30)), filters=FILTERS)
NO_FUSE = Pair(settings=replace(SETTINGS, unprotected_exit_s=D(0)), filters=FILTERS)
ADOPT = Pair(settings=replace(SETTINGS, entry=EntryMode.ADOPT), filters=FILTERS)


def later(seconds: int) -> TimePassed:
    return TimePassed(ts=D(1000 + seconds))


CASES = [
    # market not trading: wait for it, then protect at once (or leave if through the stop)
    pytest.param(Case(placing(), (refused(stop(), CLOSED),), PositionState.OPEN,
                      ["WatchMarket"], lambda s, e: s.guard.market_closed and not s.halted),
                 id="closed-market-is-watched"),
    pytest.param(Case(placing(), (refused(stop(), CLOSED, -1013),), PositionState.OPEN,
                      ["WatchMarket"]), id="closed-market-as-the-live-venue-codes-it"),
    pytest.param(Case(placing(), (refused(stop(), CLOSED), PriceSeen(tick=tick("104")),
                                  later(120)),
                      PositionState.OPEN, ["WatchMarket"]),
                 id="closed-market-sends-nothing-meanwhile"),
    pytest.param(Case(placing(), (refused(stop(), CLOSED),
                                  MarketReopened(symbol=SYM, price=D(104))),
                      PositionState.OPEN, ["WatchMarket", "write-ahead", "PlaceStop"],
                      lambda s, e: sends(e)[-1].order.stop_price == D(99)
                      and not s.guard.market_closed),
                 id="reopened-above-the-stop-protects-at-once"),
    pytest.param(Case(placing(), (refused(stop(), CLOSED),
                                  MarketReopened(symbol=SYM, price=D(95))),
                      PositionState.EXITING, ["WatchMarket", "write-ahead", "PlaceMarketOrder"],
                      lambda s, e: s.position.exit_reason == "stop"),
                 id="reopened-through-the-stop-exits-at-market"),
    pytest.param(Case(exiting(sale(state=OrderState.PENDING_NEW)),
                      (refused(sale(), CLOSED), MarketReopened(symbol=SYM, price=D(94))),
                      PositionState.EXITING, ["WatchMarket", "write-ahead", "PlaceMarketOrder"]),
                 id="sale-refused-closed-sells-once-it-trades"),
    pytest.param(Case(opened(), (OrderUpdated(report=report(stop(), OrderState.EXPIRED)),
                                 refused(stop(3, OrderState.PENDING_NEW), CLOSED)),
                      PositionState.OPEN, ["write-ahead", "PlaceStop", "WatchMarket"]),
                 id="stop-expired-by-the-venue-then-closed-market-is-watched"),
    pytest.param(Case(exiting(), (CancelRefused(order=stop(), reason=CLOSED),
                                  MarketReopened(symbol=SYM, price=D(95))),
                      PositionState.EXITING, ["WatchMarket", "CancelOrder"]),
                 id="cancel-refused-in-a-halted-market-asks-again-once-it-trades"),
    pytest.param(Case(placing(), (refused(stop(), CLOSED), GatewayRestarted()),
                      PositionState.OPEN, ["WatchMarket", "write-ahead", "PlaceStop"]),
                 id="watch-lost-with-the-gateway-is-tried-again"),
    pytest.param(Case(placing(), (refused(stop(), "Filter failure: MAX_NUM_ALGO_ORDERS"),
                                  StraysCanceled(symbol=SYM, canceled=0)),
                      PositionState.OPEN, ["CancelStrays"],
                      lambda s, e: s.guard.retry_at == D(1001)),
                 id="algo-cap-full-of-others-orders-retries-with-backoff"),
    # filters: fit again from fresh filters, once; then leave at market
    pytest.param(Case(placing(), (refused(stop(), BAND, -1013),), PositionState.OPEN,
                      ["RefreshFilters"]), id="filter-refusal-reads-the-filters"),
    pytest.param(Case(placing(), (refused(stop(), BAND, -1013),
                                  FiltersRefreshed(filters=COARSER)),
                      PositionState.OPEN, ["RefreshFilters", "write-ahead", "PlaceStop"],
                      lambda s, e: (sends(e)[-1].order.stop_price, sends(e)[-1].order.limit_price,
                                    s.filters) == (D(99), D(98), COARSER)),
                 id="fresh-filters-fit-the-stop-again"),
    pytest.param(Case(placing(), (refused(stop(), BAND, -1013), FiltersRefreshed(filters=FILTERS),
                                  refused(stop(3, OrderState.PENDING_NEW), BAND, -1013)),
                      PositionState.EXITING,
                      ["RefreshFilters", "write-ahead", "PlaceStop", "write-ahead",
                       "PlaceMarketOrder"], lambda s, e: s.position.exit_reason == "stop"),
                 id="refused-by-fresh-filters-too-exits-at-market"),
    pytest.param(Case(exiting(sale(state=OrderState.PENDING_NEW)),
                      (refused(sale(), "Filter failure: LOT_SIZE", -1013),
                       FiltersRefreshed(filters=FILTERS),
                       refused(sale(4, OrderState.PENDING_NEW), "Filter failure: LOT_SIZE", -1013)),
                      PositionState.FLAT,
                      ["RefreshFilters", "write-ahead", "PlaceMarketOrder"],
                      lambda s, e: (s.position.exit_reason, s.position.pnl) == ("dust", None)),
                 id="a-sale-no-filter-lets-through-is-dust"),
    # anything else: retry with backoff; a long gap ends in an exit at market
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE),), PositionState.OPEN, [],
                      lambda s, e: (s.guard.retry_at, s.guard.bare_since) == (D(1001), D(1000))),
                 id="other-refusal-retries-after-1s"),
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE), TimePassed(ts=D("1000.5"))),
                      PositionState.OPEN, []), id="other-refusal-waits-out-its-backoff"),
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE), later(1)), PositionState.OPEN,
                      ["write-ahead", "PlaceStop"]), id="other-refusal-retried-without-a-price"),
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE), later(1),
                                  refused(stop(3, OrderState.PENDING_NEW), DUPLICATE), later(2)),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: s.guard.retry_at == D(1003)),
                 id="backoff-doubles"),
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE), later(30)), PositionState.EXITING,
                      ["write-ahead", "PlaceMarketOrder"],
                      lambda s, e: s.position.exit_reason == "unprotected",
                      pair=SHORT_FUSE), id="unprotected-too-long-exits-at-market"),
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE), later(29)), PositionState.OPEN,
                      ["write-ahead", "PlaceStop"], pair=SHORT_FUSE),
                 id="unprotected-not-yet-too-long-retries"),
    pytest.param(Case(placing(), (refused(stop(), DUPLICATE), later(3600)), PositionState.OPEN,
                      ["write-ahead", "PlaceStop"], pair=NO_FUSE),
                 id="unprotected-exit-disabled-keeps-retrying"),
    pytest.param(Case(placing(), (refused(stop(), CLOSED), later(3600)), PositionState.OPEN,
                      ["WatchMarket"], pair=SHORT_FUSE),
                 id="a-closed-market-is-no-reason-to-sell"),
    # time without prices; a halt stops entries only
    pytest.param(Case(opened(triggered_at=D(940)), (later(1),), PositionState.EXITING,
                      ["write-ahead", "CancelOrder"],
                      lambda s, e: s.position.exit_reason == "timeout"),
                 id="stop-fill-timeout-fires-without-a-price"),
    pytest.param(Case(opened(triggered_at=D(950)), (later(5),), PositionState.OPEN, []),
                 id="stop-fill-timeout-not-yet"),
    pytest.param(Case(opened(halted=True), (PriceSeen(tick=tick("120")),), PositionState.OPEN,
                      ["write-ahead", "ReplaceStop"]), id="a-halted-pair-still-trails"),
    pytest.param(Case(opened(halted=True), (OrderUpdated(report=report(stop(),
                                                                       OrderState.CANCELED)),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"]),
                 id="a-halted-pair-still-protects"),
    pytest.param(Case(placing(), (refused(stop(), INSUFFICIENT_BALANCE),
                                  BalanceSeen(asset="BTC", free=D(1))),
                      PositionState.OPEN, ["ReadBalance"],
                      lambda s, e: s.guard.retry_at == D(1001)),
                 id="coins-all-there-after-all-retries"),
]


@pytest.mark.parametrize("case", CASES)
def test_refusal_answer(case: Case):
    state, effects = run(case.state, *case.events, pair=case.pair)

    assert state.position.state is case.becomes
    assert shape(effects) == case.world
    assert not any(isinstance(e, Halt) for e in effects)
    assert case.check(state, effects)


# --- adopting coins whose stop no filter lets through -----------------------------------------

def adopt_balance(free: str) -> BalanceSeen:
    return BalanceSeen(asset="BTC", free=D(free))


def test_coins_whose_stop_breaks_a_filter_are_left_alone_and_said_once():
    state = flat(last_price=D(100), last_ts=D(1000))
    # 0.051 BTC is worth 5.1 at 100 (>= min_notional 5), but its stop's limit 89.10 makes 4.54.
    state, effects = run(state, adopt_balance("0.051"), adopt_balance("0.051"), pair=ADOPT)

    assert state.position.state is PositionState.FLAT and sends(effects) == []
    assert [e.reason for e in effects if isinstance(e, AdoptSkipped)] == [
        state.adopt_skipped]
    assert "NOTIONAL" in state.adopt_skipped
    assert len([e for e in effects if isinstance(e, Log) and e.event == "adopt_skipped"]) == 1


def test_coins_left_alone_are_adopted_once_their_stop_fits():
    state = flat(last_price=D(100), last_ts=D(1000))
    state, _ = run(state, adopt_balance("0.051"), pair=ADOPT)

    state, effects = run(state, adopt_balance("0.2"), pair=ADOPT)

    assert state.position.state is PositionState.OPEN and state.adopt_skipped is None
    assert [e.reason for e in effects if isinstance(e, AdoptSkipped)] == [None]
    assert shape(effects) == ["write-ahead", "PlaceStop"]
    assert not [c for c in sends(effects) if c.order.type.value == "MARKET"]  # never sold
