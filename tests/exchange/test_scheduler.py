"""The order scheduler under an exhausted budget, with a fake clock (issue 27): protection always
leaves first, moves next (widest gap first), entries last, and no entry leaves without room for
its first stop; free commands (queries, cancels) are never held by the budget."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from core.commands import CancelOrder, PlaceMarketOrder, PlaceStop, QueryOrder, ReplaceStop
from core.types import Order, OrderState, OrderType, Side
from exchange.scheduler import Kind, OrderScheduler, kind_of

LIMIT = 10  # orders per 10 s window; 9 may go (headroom 0.9)


def order(symbol: str, side: Side, type_: OrderType, seq: int = 1) -> Order:
    return Order(client_order_id=f"rt-{symbol.lower()}-{seq}", position_id=symbol.lower(),
                 symbol=symbol, side=side, type=type_, qty=D(1), state=OrderState.PENDING_NEW)


def stop(symbol: str) -> PlaceStop:
    return PlaceStop(order=order(symbol, Side.SELL, OrderType.STOP_LOSS_LIMIT, 2))


def sale(symbol: str) -> PlaceMarketOrder:
    return PlaceMarketOrder(order=order(symbol, Side.SELL, OrderType.MARKET, 3))


def entry(symbol: str, seq: int = 1) -> PlaceMarketOrder:
    return PlaceMarketOrder(order=order(symbol, Side.BUY, OrderType.MARKET, seq))


def move(symbol: str, gap: str) -> ReplaceStop:
    return ReplaceStop(old=order(symbol, Side.SELL, OrderType.STOP_LOSS_LIMIT, 2),
                       new=order(symbol, Side.SELL, OrderType.STOP_LOSS_LIMIT, 4), gap=D(gap))


def drain(s: OrderScheduler, now: float, used: int = 0) -> list:
    """Release all that may go now; the venue's count (``used``) grows with each order sent,
    as its headers say after each response."""
    out = []
    while (released := s.next(now, orders_used=used, orders_limit=LIMIT)) is not None:
        out.append(released)
        used += released.kind is not Kind.FREE
    return out


def test_classes_of_the_commands():
    assert [kind_of(c) for c in (stop("A"), sale("A"), move("A", "1"), entry("A"),
                                 CancelOrder(order=stop("A").order),
                                 QueryOrder(order=stop("A").order))] == [
        Kind.PROTECT, Kind.PROTECT, Kind.MOVE, Kind.ENTRY, Kind.FREE, Kind.FREE]


def test_protection_leaves_first_then_moves_widest_first_then_entries():
    s = OrderScheduler()
    for command in (entry("E1"), move("M1", "1"), stop("P1"), move("M2", "5"), sale("P2"),
                    entry("E2")):
        s.add(command, now=100.0)

    released = drain(s, now=100.0)

    assert [r.command for r in released] == [stop("P1"), sale("P2"), move("M2", "5"),
                                             move("M1", "1"), entry("E1"), entry("E2")]


def test_with_the_budget_spent_only_free_commands_go_and_protection_waits_for_the_window():
    s = OrderScheduler()
    s.add(entry("E"), 100.0)
    s.add(move("M", "3"), 100.0)
    s.add(stop("P"), 100.0)
    s.add(QueryOrder(order=stop("Q").order), 100.0)

    now_out = drain(s, now=101.0, used=9)  # the venue counted 9 this window
    wake = s.wake_at(101.0)
    later = drain(s, now=wake, used=0)

    assert [r.kind for r in now_out] == [Kind.FREE]
    assert wake == 110.0
    assert [r.kind for r in later] == [Kind.PROTECT, Kind.MOVE, Kind.ENTRY]
    assert later[0].waited_s == 10.0  # reported as ratchet_protection_wait_seconds


def test_an_entry_leaves_only_with_room_for_its_stop_and_reserves_it():
    s = OrderScheduler()
    s.add(entry("E1"), 0.0)
    s.add(entry("E2"), 0.0)

    first = drain(s, now=0.0, used=7)  # 2 left: one buy and its stop
    s.add(stop("E1"), 0.5)  # E1's stop arrives: its reservation is used
    second = drain(s, now=0.5, used=8)

    assert [r.command for r in first] == [entry("E1")]
    assert [r.command for r in second] == [stop("E1")]
    assert drain(s, now=0.6, used=9) == []  # E2 waits: no room for a buy and a stop


def test_a_pause_holds_everything_until_it_is_over():
    s = OrderScheduler()
    s.add(QueryOrder(order=stop("Q").order), 0.0)
    s.add(stop("P"), 0.0)
    s.pause(until=5.0)

    assert drain(s, now=1.0) == [] and s.wake_at(1.0) == 5.0
    assert [r.kind for r in drain(s, now=5.0)] == [Kind.FREE, Kind.PROTECT]


def test_a_move_not_yet_released_can_be_withdrawn():
    s = OrderScheduler()
    s.add(move("M", "2"), 0.0)

    dropped = s.drop_move("rt-m-4", "M")

    assert dropped == move("M", "2") and len(s) == 0
    assert s.drop_move("rt-m-4", "M") is None


def test_only_the_latest_move_per_symbol_waits():
    s = OrderScheduler()
    s.add(move("M", "1"), 0.0)
    later = ReplaceStop(old=move("M", "1").old, new=order("M", Side.SELL,
                                                           OrderType.STOP_LOSS_LIMIT, 5),
                        gap=D(2))
    s.add(later, 0.1)

    assert [r.command for r in drain(s, now=0.2)] == [later]


KINDS = st.sampled_from(["protect", "move", "entry", "free"])


@given(arrivals=st.lists(st.tuples(KINDS, st.integers(0, 5)), max_size=40),
       used=st.integers(0, 12))
def test_in_any_arrival_order_no_class_overtakes_a_higher_one(arrivals, used):
    s = OrderScheduler()
    for n, (kind, sym) in enumerate(arrivals):
        symbol = f"S{sym}"
        command = {"protect": stop(symbol), "move": move(symbol, str(n)),
                   "entry": entry(symbol, 100 + n),
                   "free": QueryOrder(order=stop(symbol).order)}[kind]
        s.add(command, now=0.0)

    released = drain(s, now=1.0, used=used)

    kinds = [r.kind for r in released]
    assert kinds == sorted(kinds)  # never a lower class before a higher one
    orders = [k for k in kinds if k is not Kind.FREE]
    assert len(orders) <= max(0, 9 - used)
    if Kind.ENTRY in kinds:  # each buy left room for its stop
        assert used + len(orders) + kinds.count(Kind.ENTRY) <= 9


def test_without_classes_stops_and_buys_go_first_come_whatever_the_budget():
    s = OrderScheduler(classes=False)
    for command in (entry("E1"), stop("P1"), move("M1", "5"), entry("E2")):
        s.add(command, now=0.0)

    released = drain(s, now=0.0, used=9)  # the budget is spent

    assert [r.command for r in released] == [entry("E1"), stop("P1"), entry("E2")]
    assert len(s) == 1  # the move waits for the budget, as before the classes
