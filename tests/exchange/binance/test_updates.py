"""REST polling while the user stream is down: cadence, weight ceiling, and what is queried."""

from __future__ import annotations

from decimal import Decimal

from core.errors import UnknownOrder
from core.types import OrderState, OrderType, Side
from exchange.base import OrderReport, RateBudget
from exchange.binance.tracker import OpenOrderTracker
from exchange.binance.updates import POLL_INTERVAL_S, OrderUpdates


def report(cid: str, state=OrderState.NEW, executed="0") -> OrderReport:
    return OrderReport(client_order_id=cid, symbol="BTCUSDT", side=Side.SELL,
                       type=OrderType.STOP_LOSS_LIMIT, state=state, qty=Decimal("1"),
                       executed_qty=Decimal(executed))


class FakeVenue:
    """What polling needs from the exchange: a listing, single queries, a budget."""

    def __init__(self) -> None:
        self.listing: list[OrderReport] = []
        self.orders: dict[str, OrderReport] = {}
        self.calls: list[str] = []
        self.weight_used = 0
        self.now = 0.0

    def list_open(self) -> list[OrderReport]:
        self.calls.append("openOrders")
        return list(self.listing)

    def get_order(self, *, symbol: str, client_order_id: str) -> OrderReport:
        self.calls.append(f"order {client_order_id}")
        if client_order_id not in self.orders:
            raise UnknownOrder("-2013")
        return self.orders[client_order_id]

    def budget(self) -> RateBudget:
        return RateBudget(weight_used=self.weight_used, weight_limit=6000)


def make(venue: FakeVenue) -> tuple[OrderUpdates, OpenOrderTracker, list[OrderReport]]:
    tracker = OpenOrderTracker()
    heard: list[OrderReport] = []
    updates = OrderUpdates(tracker=tracker, list_open=venue.list_open, get_order=venue.get_order,
                           budget=venue.budget, clock=lambda: venue.now,
                           stream_factory=lambda *_: None)
    updates.set_listener(heard.append)
    return updates, tracker, heard


def test_only_orders_that_left_the_book_are_queried_and_reported():
    venue = FakeVenue()
    updates, tracker, heard = make(venue)
    for cid in ("rt-p-1", "rt-p-2", "rt-p-3"):
        tracker.note(report(cid))
    venue.listing = [report("rt-p-1"), report("rt-p-2", OrderState.PARTIALLY_FILLED, executed="0.4")]
    venue.orders["rt-p-3"] = report("rt-p-3", OrderState.FILLED, executed="1")

    polled = updates.poll()

    assert venue.calls == ["openOrders", "order rt-p-3"]
    assert [(r.client_order_id, r.state) for r in polled] == [
        ("rt-p-2", OrderState.PARTIALLY_FILLED), ("rt-p-3", OrderState.FILLED)]
    assert heard == polled


def test_an_order_the_venue_never_saw_is_forgotten_not_reported():
    venue = FakeVenue()
    updates, tracker, heard = make(venue)
    tracker.note(report("rt-p-9"))

    assert updates.poll() == [] and heard == []
    assert len(tracker) == 0


def test_polls_are_at_least_the_interval_apart():
    venue = FakeVenue()
    updates, _, _ = make(venue)

    updates.poll()
    venue.now += POLL_INTERVAL_S - 0.1
    updates.poll()
    venue.now += 0.1
    updates.poll()

    assert venue.calls == ["openOrders", "openOrders"]


def test_no_poll_while_the_weight_is_near_the_limit():
    venue = FakeVenue()
    updates, _, _ = make(venue)
    venue.weight_used = 4300

    assert not updates.poll_due() and updates.poll() == []
    assert venue.calls == []


def test_forced_poll_ignores_cadence_and_ceiling():
    venue = FakeVenue()
    updates, _, _ = make(venue)
    venue.weight_used = 5999
    updates.poll(force=True)
    updates.poll(force=True)

    assert venue.calls == ["openOrders", "openOrders"]


def test_an_unreadable_execution_report_is_caught_up_over_rest_at_once():
    venue = FakeVenue()
    events: list = []
    woken: list[bool] = []
    counted: list[bool] = []
    tracker = OpenOrderTracker()
    updates = OrderUpdates(
        tracker=tracker, list_open=venue.list_open, get_order=venue.get_order,
        budget=venue.budget, clock=lambda: venue.now,
        stream_factory=lambda on_event, on_state: events.append((on_event, on_state)) or Stub(),
        on_unreadable=lambda: counted.append(True))
    heard: list[OrderReport] = []
    updates.set_listener(heard.append)
    updates.set_waker(lambda: woken.append(True))
    updates.start_stream()
    on_event, on_state = events[0]
    on_state(True)
    updates.poll(force=True)  # the last look, a moment ago: the stop was open
    tracker.note(report("rt-p-4"))
    venue.orders["rt-p-4"] = report("rt-p-4", OrderState.FILLED, executed="1")
    venue.weight_used = 5900  # even near the weight ceiling

    on_event({"e": "executionReport", "c": "rt-p-4", "X": "FILLED"})  # fields missing
    due = updates.poll_due()
    polled = updates.poll()

    assert woken == [True] and counted == [True] and updates.unreadable == 1
    assert due
    assert [(r.client_order_id, r.state) for r in polled] == [("rt-p-4", OrderState.FILLED)]
    assert heard[-1].state is OrderState.FILLED
    assert not updates.poll_due()  # caught up; the stream is up again


class Stub:
    def start(self) -> None:
        pass

    def is_alive(self) -> bool:
        return True

    def stop(self) -> None:
        pass


class CapturedStream:
    """A user stream that hands its event callback to the test."""

    def __init__(self, on_event, on_state) -> None:
        self.on_event, self.on_state = on_event, on_state

    def start(self) -> None:
        self.on_state(True)

    def stop(self) -> None:
        pass

    def is_alive(self) -> bool:
        return True


def streaming(venue: FakeVenue):
    streams: list[CapturedStream] = []

    def factory(on_event, on_state):
        streams.append(CapturedStream(on_event, on_state))
        return streams[-1]

    updates = OrderUpdates(tracker=OpenOrderTracker(), list_open=venue.list_open,
                           get_order=venue.get_order, budget=venue.budget,
                           clock=lambda: venue.now, stream_factory=factory)
    updates.start_stream()
    return updates, streams[0]


def test_account_position_events_reach_the_balance_listener_as_balances():
    updates, stream = streaming(FakeVenue())
    heard: list = []
    updates.set_balance_listener(heard.append)

    stream.on_event({"e": "outboundAccountPosition", "E": 1, "u": 1, "B": [
        {"a": "BTC", "f": "0.05000000", "l": "0.01000000"},
        {"a": "USDT", "f": "1000.5", "l": "0"}]})

    (balances,) = heard
    assert [(b.asset, b.free, b.locked) for b in balances] == [
        ("BTC", Decimal("0.05"), Decimal("0.01")), ("USDT", Decimal("1000.5"), Decimal(0))]


def test_an_unreadable_account_position_is_dropped_and_orders_are_not_disturbed():
    updates, stream = streaming(FakeVenue())
    balances: list = []
    orders: list = []
    updates.set_balance_listener(balances.append)
    updates.set_listener(orders.append)

    stream.on_event({"e": "outboundAccountPosition", "E": 1, "u": 1,
                     "B": [{"a": "BTC", "f": 0.05, "l": "0"}]})  # a float: not Binance's

    assert balances == [] and orders == [] and updates.unreadable == 0


def test_another_clients_order_events_are_dropped_without_a_catch_up():
    venue = FakeVenue()
    updates, stream = streaming(venue)
    heard: list[OrderReport] = []
    updates.set_listener(heard.append)
    updates.poll(force=True)  # the stream is up and caught up
    venue.calls.clear()

    for event in ({"e": "executionReport", "c": "web_5f1c2e", "C": "", "o": "TAKE_PROFIT"},
                  {"e": "executionReport", "c": "and_9a8b", "C": "", "X": "NEW"},
                  {"e": "executionReport", "c": "x-cancel-7", "C": "rtb-other-3",
                   "X": "CANCELED"}):
        stream.on_event(event)

    assert (updates.foreign, updates.unreadable, heard) == (3, 0, [])
    assert not updates.poll_due() and venue.calls == []


def test_a_cancel_of_our_order_by_another_client_is_still_ours():
    venue = FakeVenue()
    updates, stream = streaming(venue)

    stream.on_event({"e": "executionReport", "c": "web_cancel", "C": "rt-p-1", "X": "CANCELED"})

    assert (updates.foreign, updates.unreadable) == (0, 1)  # ours, unreadable: caught up


def test_a_cut_stream_starts_rest_polling_at_once():
    venue = FakeVenue()
    updates, stream = streaming(venue)
    woken: list[bool] = []
    updates.set_waker(lambda: woken.append(True))
    updates.poll(force=True)  # polled just now: the cadence alone would wait 5 s

    stream.on_state(False)

    assert woken == [True] and updates.poll_due()
