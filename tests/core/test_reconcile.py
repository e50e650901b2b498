"""Reconciliation as a pure diff (DESIGN.md §5): every case, table-driven, and all combined."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal as D
from enum import Enum
from typing import Any

import pytest

from core import reconcile as rc
from core.reconcile import (
    AdoptIntent,
    AdoptOrphan,
    CancelOrphan,
    CloseUnbooked,
    FailIntent,
    HaltPair,
    KeepStop,
    LocalState,
    MarkOrder,
    RecordStopFill,
    ReplaceStop,
    ShrinkPosition,
    UnknownStop,
    VenueState,
    orders_to_query,
    reconcile,
)
from core.types import (
    Balance,
    Order,
    OrderState,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    SymbolFilters,
)
from exchange.base import Execution, OrderReport

PID = "PID"
SYM = "BTCUSDT"
SETTINGS = PairSettings(symbol=SYM, trail_pct=D(10), limit_offset_pct=D(1), fee_pct=D("0.1"))
FILTERS = SymbolFilters(symbol=SYM, base_asset="BTC", quote_asset="USDT", tick=D("0.01"),
                        step=D("0.001"), min_notional=D(5))


def cid(seq: int) -> str:
    return f"rt-{PID}-{seq}"


def pos(**changes: Any) -> Position:
    base = Position(position_id=PID, symbol=SYM, state=PositionState.OPEN, qty=D(1),
                    entry_price=D(100), entry_fee=D("0.1"), highest=D(110), stop=D(99),
                    limit=D("98.01"), stop_order_id=cid(2), seq=2)
    return base.replace(**changes)


def stop_row(seq: int = 2, state: OrderState = OrderState.NEW, stop: str = "99",
             limit: str = "98.01") -> Order:
    return Order(client_order_id=cid(seq), position_id=PID, symbol=SYM, side=Side.SELL,
                 type=OrderType.STOP_LOSS_LIMIT, qty=D(1), state=state, stop_price=D(stop),
                 limit_price=D(limit))


def market_row(side: Side, seq: int, state: OrderState = OrderState.PENDING_NEW) -> Order:
    return Order(client_order_id=cid(seq), position_id=PID, symbol=SYM, side=side,
                 type=OrderType.MARKET, qty=D(1), state=state)


def ex(price: str, qty: str, fee: str, asset: str = "USDT", tid: str = "t1") -> Execution:
    return Execution(trade_id=tid, price=D(price), qty=D(qty), fee=D(fee), fee_asset=asset,
                     ts=D(1000))


def rep(order: Order, state: OrderState, *executions: Execution, stop: str | None = None,
        cid_: str | None = None) -> OrderReport:
    executed = sum((e.qty for e in executions), D(0))
    return OrderReport(
        client_order_id=cid_ or order.client_order_id, symbol=order.symbol, side=order.side,
        type=order.type, state=state, qty=order.qty, executed_qty=executed,
        stop_price=D(stop) if stop else order.stop_price, limit_price=order.limit_price,
        exchange_order_id="x" + order.client_order_id, executions=tuple(executions),
    )


@dataclass
class Case:
    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    open_orders: tuple[OrderReport, ...] = ()
    queried: dict[str, OrderReport | None] = field(default_factory=dict)
    balances: dict[str, Balance] = field(
        default_factory=lambda: {"BTC": Balance(asset="BTC", free=D(0), locked=D(1))})
    last_prices: dict[str, D] = field(default_factory=lambda: {SYM: D(115)})
    settings: dict[str, PairSettings] = field(default_factory=lambda: {SYM: SETTINGS})
    filters: dict[str, SymbolFilters] = field(default_factory=lambda: {SYM: FILTERS})
    expected: list[rc.Action] = field(default_factory=list)

    adopt_orphans: bool = False

    def local(self) -> LocalState:
        return LocalState(positions=self.positions, orders=self.orders, settings=self.settings,
                          filters=self.filters, last_prices=self.last_prices, prefix="rt",
                          adopt_orphans=self.adopt_orphans,
                          known_ids=frozenset(o.client_order_id for o in self.orders
                                              if o.state.is_final))

    def venue(self) -> VenueState:
        return VenueState(open_orders=self.open_orders, queried=self.queried,
                          balances=self.balances)


# Levels when the last price (115) is above highest (110): stop 103.50, limit 102.46.
UP = {"stop": D("103.50"), "limit": D("102.46"), "highest": D(115), "last_price": D(115)}


def replace_stop(old: Order | None, old_report: OrderReport | None = None, **levels) -> ReplaceStop:
    values = {**UP, **levels}
    return ReplaceStop(PID, old, values["stop"], values["limit"], values["highest"],
                       old_report=old_report, last_price=values["last_price"])


def case_keep() -> Case:
    s = stop_row()
    return Case(positions=(pos(),), orders=(s,), open_orders=(rep(s, OrderState.NEW),),
                expected=[KeepStop(PID, s.client_order_id)])


def case_keep_partially_filled() -> Case:
    s = stop_row()
    r = rep(s, OrderState.PARTIALLY_FILLED, ex("99", "0.4", "0.0396"))
    return Case(positions=(pos(),), orders=(s,), open_orders=(r,),
                expected=[KeepStop(PID, s.client_order_id)])


def case_filled(*executions: Execution, exit_price: str, pnl: str) -> Case:
    s = stop_row()
    r = rep(s, OrderState.FILLED, *executions)
    return Case(positions=(pos(),), orders=(s,), queried={s.client_order_id: r},
                balances={}, expected=[RecordStopFill(PID, s, r, D(exit_price), D(pnl))])


def case_gone(state: OrderState | None) -> Case:
    s = stop_row()
    r = None if state is None else rep(s, state)
    return Case(positions=(pos(),), orders=(s,), queried={s.client_order_id: r},
                expected=[replace_stop(s, r)])


def case_never_placed(**kw: Any) -> Case:
    return Case(positions=(pos(stop_order_id=None),), expected=[replace_stop(None)], **kw)


def case_first_stop_intent(found: bool) -> Case:
    s = stop_row(state=OrderState.PENDING_NEW)
    if found:
        r = rep(s, OrderState.NEW)
        return Case(positions=(pos(),), orders=(s,), open_orders=(r,),
                    expected=[AdoptIntent(s, r)])
    return Case(positions=(pos(),), orders=(s,), queried={s.client_order_id: None},
                expected=[FailIntent(s), replace_stop(None)])


def case_entry(state: OrderState, venue: OrderState | None) -> Case:
    b = market_row(Side.BUY, 1, state)
    entering = pos(state=PositionState.ENTERING, qty=D(0), stop=None, limit=None,
                   stop_order_id=None, seq=1)
    r = None if venue is None else rep(b, venue, ex("100", "1", "0.1"))
    expected: list[rc.Action] = [FailIntent(b) if r is None else AdoptIntent(b, r)]
    return Case(positions=(entering,), orders=(b,), queried={b.client_order_id: r},
                balances={}, expected=expected)


def case_replace_in_flight(old_venue: OrderState, new_venue: OrderState | None) -> Case:
    """A cancelReplace was sent, and we died before its reply was on disk."""
    old = stop_row(2)
    new = dataclasses.replace(stop_row(3, OrderState.PENDING_NEW, stop="103.50",
                                       limit="102.46"), replaces=old.client_order_id)
    r_old = rep(old, old_venue)
    r_new = None if new_venue is None else rep(new, new_venue, *(
        [ex("103.50", "1", "0.1035")] if new_venue is OrderState.FILLED else []))
    opened = tuple(r for r in (r_old, r_new) if r is not None and r.state.is_open)
    queried = {o.client_order_id: r for o, r in ((old, r_old), (new, r_new))
               if r is None or not r.state.is_open}
    if new_venue is None:
        expected: list[rc.Action] = [FailIntent(new), KeepStop(PID, old.client_order_id)]
    elif new_venue is OrderState.FILLED:
        expected = [AdoptIntent(new, r_new), MarkOrder(old, r_old)]
    else:
        expected = [MarkOrder(old, r_old), AdoptIntent(new, r_new)]
    return Case(positions=(pos(seq=3),), orders=(old, new), open_orders=opened,
                queried=queried, balances={} if new_venue is OrderState.FILLED else
                {"BTC": Balance(asset="BTC", free=D(0), locked=D(1))}, expected=expected)


def case_exit(sell_venue: OrderState | None, stop_open: bool = False) -> Case:
    """A timeout exit: the position is EXITING with a market sell intent."""
    sell = market_row(Side.SELL, 3)
    exiting = pos(state=PositionState.EXITING, stop_order_id=None, seq=3,
                  triggered_at=D(900))
    r_sell = None if sell_venue is None else rep(sell, sell_venue, ex("80", "1", "0.08"))
    orders: tuple[Order, ...] = (sell,)
    open_orders: tuple[OrderReport, ...] = ()
    expected: list[rc.Action] = [FailIntent(sell) if r_sell is None else AdoptIntent(sell, r_sell)]
    if stop_open:
        s = stop_row(2)
        r_stop = rep(s, OrderState.NEW)
        orders, open_orders = (s, sell), (r_stop,)
        expected.append(CancelOrphan(r_stop))
    if sell_venue is None:
        expected.append(replace_stop(None))
    return Case(positions=(exiting,), orders=orders, open_orders=open_orders,
                queried={sell.client_order_id: r_sell},
                balances={} if sell_venue is OrderState.FILLED else
                {"BTC": Balance(asset="BTC", free=D(1))}, expected=expected)


def case_orphan(client_id: str, expect: str, *, held: str = "1", adopt: bool = False,
                type_: OrderType = OrderType.STOP_LOSS_LIMIT) -> Case:
    r = OrderReport(client_order_id=client_id, symbol=SYM, side=Side.SELL, type=type_,
                    state=OrderState.NEW, qty=D(1), stop_price=D(90), limit_price=D(89))
    expected = {"cancel": [CancelOrphan(r)], "refuse": [UnknownStop(r)], "none": [],
                "adopt": [AdoptOrphan(r, D(115))]}[expect]
    return Case(open_orders=(r,), expected=expected, adopt_orphans=adopt,
                balances={"BTC": Balance(asset="BTC", free=D(0), locked=D(held))})


def case_wrong_stop(**report_changes: Any) -> Case:
    s = stop_row()
    r = dataclasses.replace(rep(s, OrderState.NEW), **report_changes)
    return Case(positions=(pos(),), orders=(s,), open_orders=(r,),
                expected=[CancelOrphan(r), replace_stop(s, r)])


def case_second_open_stop() -> Case:
    stale, own = stop_row(1, stop="95", limit="94.05"), stop_row(2)
    r_stale, r_own = rep(stale, OrderState.NEW), rep(own, OrderState.NEW)
    return Case(positions=(pos(),), orders=(stale, own), open_orders=(r_stale, r_own),
                expected=[CancelOrphan(r_stale), KeepStop(PID, own.client_order_id)])


def case_short(stop_venue: OrderState, balances: dict[str, Balance]) -> Case:
    """The account holds less than the position: keep what is left under a stop for it."""
    s = stop_row()
    r = rep(s, stop_venue)
    kept = sum((b.total for b in balances.values()), D(0))
    shrink = ShrinkPosition(PID, kept, D(1) - kept)
    if stop_venue.is_open:  # a stop for more than is left: replaced like any wrong stop
        return Case(positions=(pos(),), orders=(s,), open_orders=(r,), balances=balances,
                    expected=[shrink, CancelOrphan(r), replace_stop(s, r)])
    return Case(positions=(pos(),), orders=(s,), queried={s.client_order_id: r},
                balances=balances, expected=[shrink, replace_stop(s, r)])


def case_gone_outside(stop_venue: OrderState, balances: dict[str, Balance]) -> Case:
    """Nothing an order could carry is left: the position closes unbooked, its stop goes."""
    s = stop_row()
    r = rep(s, stop_venue)
    kept = sum((b.total for b in balances.values()), D(0))
    close = CloseUnbooked(PID, "sold_outside", D(1) - kept)
    if stop_venue.is_open:
        return Case(positions=(pos(),), orders=(s,), open_orders=(r,), balances=balances,
                    expected=[close, CancelOrphan(r)])
    return Case(positions=(pos(),), orders=(s,), queried={s.client_order_id: r},
                balances=balances, expected=[close, MarkOrder(s, r)])


def case_no_settings() -> Case:
    s = stop_row()
    r = rep(s, OrderState.CANCELED)
    return Case(positions=(pos(),), orders=(s,), queried={s.client_order_id: r}, settings={},
                expected=[MarkOrder(s, r), HaltPair(SYM, "no settings or symbol filters for "
                                                         "BTCUSDT")])


def case_row_without_live_position(order: Order, venue: OrderState) -> Case:
    r = rep(order, venue)
    if venue.is_open:
        return Case(orders=(order,), open_orders=(r,), expected=[CancelOrphan(r)])
    return Case(orders=(order,), queried={order.client_order_id: r},
                expected=[MarkOrder(order, r)])


CASES = [
    pytest.param(case_keep, id="stop-open-and-correct-is-kept"),
    pytest.param(case_keep_partially_filled, id="stop-partially-filled-is-kept"),
    pytest.param(lambda: case_filled(ex("99", "1", "0.099"), exit_price="99", pnl="-1.199"),
                 id="stop-filled-while-down-books-pnl"),
    pytest.param(lambda: case_filled(ex("99", "0.4", "0.0396", tid="a"),
                                     ex("98.5", "0.6", "0.0591", tid="b"),
                                     exit_price="98.7", pnl="-1.4987"),
                 id="stop-filled-in-two-executions"),
    pytest.param(lambda: case_filled(ex("99", "1", "0.0002", asset="BNB"), exit_price="99",
                                     pnl="-1.199"),
                 id="stop-filled-fee-in-other-asset-valued-at-fee-pct"),
    pytest.param(lambda: case_filled(exit_price="98.01", pnl="-2.18801"),
                 id="stop-filled-without-executions-at-limit"),
    pytest.param(lambda: case_gone(OrderState.CANCELED), id="stop-canceled-is-replaced"),
    pytest.param(lambda: case_gone(OrderState.EXPIRED), id="stop-expired-is-replaced"),
    pytest.param(lambda: case_gone(OrderState.REJECTED), id="stop-rejected-is-replaced"),
    pytest.param(lambda: case_gone(None), id="stop-not-found-is-replaced"),
    pytest.param(case_never_placed, id="stop-never-placed-is-placed"),
    pytest.param(lambda: dataclasses.replace(
        case_never_placed(last_prices={SYM: D(105)}),
        expected=[replace_stop(None, stop=D(99), limit=D("98.01"), highest=D(110),
                               last_price=D(105))]),
        id="replace-uses-highest-when-last-price-is-lower"),
    pytest.param(lambda: dataclasses.replace(
        case_never_placed(last_prices={}),
        expected=[replace_stop(None, stop=D(99), limit=D("98.01"), highest=D(110),
                               last_price=None)]),
        id="replace-without-last-price-uses-highest"),
    pytest.param(lambda: case_first_stop_intent(True), id="stop-intent-on-venue-is-adopted"),
    pytest.param(lambda: case_first_stop_intent(False),
                 id="stop-intent-missing-fails-and-is-replaced"),
    pytest.param(lambda: case_entry(OrderState.PENDING_NEW, OrderState.FILLED),
                 id="entry-intent-filled-is-adopted"),
    pytest.param(lambda: case_entry(OrderState.PENDING_NEW, None), id="entry-intent-missing-fails"),
    pytest.param(lambda: case_entry(OrderState.NEW, OrderState.FILLED),
                 id="acknowledged-entry-filled-is-adopted"),
    pytest.param(lambda: case_entry(OrderState.NEW, OrderState.EXPIRED),
                 id="acknowledged-entry-expired-is-adopted"),
    pytest.param(lambda: case_replace_in_flight(OrderState.CANCELED, OrderState.NEW),
                 id="cancel-replace-done-adopts-new-stop-marks-old"),
    pytest.param(lambda: case_replace_in_flight(OrderState.NEW, None),
                 id="cancel-replace-not-done-keeps-old-fails-new"),
    pytest.param(lambda: case_replace_in_flight(OrderState.CANCELED, OrderState.FILLED),
                 id="cancel-replace-done-then-new-stop-filled"),
    pytest.param(lambda: case_exit(OrderState.FILLED), id="exit-sell-filled-closes"),
    pytest.param(lambda: case_exit(None), id="exit-sell-missing-fails-and-stop-is-placed"),
    pytest.param(lambda: case_exit(OrderState.FILLED, stop_open=True),
                 id="exit-sell-filled-cancels-leftover-stop"),
    pytest.param(lambda: case_orphan("rt-zzz-1", "refuse"),
                 id="unknown-stop-over-held-coins-refuses-boot"),
    pytest.param(lambda: case_orphan("rt-zzz-1", "adopt", adopt=True),
                 id="unknown-stop-taken-over-when-asked"),
    pytest.param(lambda: case_orphan("rt-zzz-1", "cancel", held="0"),
                 id="unknown-stop-over-no-coins-is-cancelled"),
    pytest.param(lambda: case_orphan("rt-zzz-1", "cancel", type_=OrderType.LIMIT),
                 id="orphan-that-is-not-a-stop-is-cancelled"),
    pytest.param(lambda: case_orphan("web_123", "none"), id="foreign-order-is-left-alone"),
    pytest.param(lambda: case_orphan("rtb-zzz-1", "none"),
                 id="another-engines-longer-prefix-is-left-alone"),
    pytest.param(lambda: case_wrong_stop(stop_price=D(95)), id="open-stop-wrong-price-replaced"),
    pytest.param(lambda: case_wrong_stop(qty=D(2)), id="open-stop-wrong-qty-replaced"),
    pytest.param(case_second_open_stop, id="second-open-stop-is-cancelled"),
    pytest.param(lambda: case_short(OrderState.NEW, {"BTC": Balance(asset="BTC",
                                                                    free=D("0.5"))}),
                 id="balance-short-keeps-what-is-left-under-a-new-stop"),
    pytest.param(lambda: case_short(OrderState.CANCELED, {"BTC": Balance(asset="BTC",
                                                                         free=D("0.5"))}),
                 id="balance-short-and-stop-gone-protects-what-is-left"),
    pytest.param(lambda: case_gone_outside(OrderState.CANCELED, {}),
                 id="balance-missing-closes-unbooked"),
    pytest.param(lambda: case_gone_outside(OrderState.NEW, {"BTC": Balance(asset="BTC",
                                                                          free=D("0.01"))}),
                 id="dust-left-closes-unbooked-and-cancels-its-stop"),
    pytest.param(lambda: dataclasses.replace(case_keep(), balances={
        "BTC": Balance(asset="BTC", free=D("0.4"), locked=D("0.6"))}),
        id="balance-free-plus-locked-covers-qty"),
    pytest.param(case_no_settings, id="no-settings-halts-the-pair"),
    pytest.param(lambda: case_row_without_live_position(stop_row(), OrderState.NEW),
                 id="open-stop-of-closed-position-is-cancelled"),
    pytest.param(lambda: case_row_without_live_position(
        market_row(Side.SELL, 3, OrderState.NEW), OrderState.FILLED),
        id="settled-order-of-closed-position-is-marked"),
    pytest.param(lambda: dataclasses.replace(
        case_row_without_live_position(stop_row(state=OrderState.CANCELED), OrderState.NEW),
        queried={}), id="open-order-final-in-db-is-cancelled"),
    pytest.param(lambda: Case(), id="nothing-to-do"),
]


@pytest.mark.parametrize("make", CASES)
def test_reconcile_case(make):
    case = make()

    actions = reconcile(case.local(), case.venue())

    assert actions == case.expected


@pytest.mark.parametrize("make", CASES)
def test_every_case_queries_exactly_the_orders_not_open(make):
    case = make()

    to_query = orders_to_query(case.local(), case.open_orders)

    assert {o.client_order_id for o in to_query} == set(case.queried)


def rename(value: Any, n: int) -> Any:
    """Move a case to its own position id and symbol, so cases can be combined."""
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return value.replace(PID, f"PID{n}").replace("BTC", f"B{n}T")
    if isinstance(value, tuple):
        return tuple(rename(v, n) for v in value)
    if isinstance(value, list):
        return [rename(v, n) for v in value]
    if isinstance(value, dict):
        return {rename(k, n): rename(v, n) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{
            f.name: rename(getattr(value, f.name), n) for f in dataclasses.fields(value)
            if f.init})
    return value


def test_all_cases_combined_give_each_case_its_own_actions():
    cases = [rename(param.values[0](), n) for n, param in enumerate(CASES)]
    cases = [c for c in cases if not c.adopt_orphans]  # a flag of the whole boot
    combined = Case(
        positions=sum((c.positions for c in cases), ()),
        orders=sum((c.orders for c in cases), ()),
        open_orders=sum((c.open_orders for c in cases), ()),
        queried={k: v for c in cases for k, v in c.queried.items()},
        balances={k: v for c in cases for k, v in c.balances.items()},
        last_prices={k: v for c in cases for k, v in c.last_prices.items()},
        settings={k: v for c in cases for k, v in c.settings.items()},
        filters={k: v for c in cases for k, v in c.filters.items()},
    )

    actions = reconcile(combined.local(), combined.venue())

    assert Counter(actions) == Counter(a for c in cases for a in c.expected)
    assert len(actions) > len(CASES)


def test_an_order_neither_open_nor_queried_is_refused():
    case = case_gone(OrderState.CANCELED)

    with pytest.raises(ValueError, match="neither open on the venue nor queried"):
        reconcile(case.local(), dataclasses.replace(case.venue(), queried={}))
