"""After the user stream comes (back) up, one REST poll catches up on what it missed. If that
poll fails (a 5xx under faults), the catch-up is still due: a fill missed while the stream was
down must not stay unknown while the stream is up."""

from __future__ import annotations

import pytest

from core.errors import StatusUnknown
from core.types import OrderState
from exchange.binance.tracker import OpenOrderTracker
from exchange.binance.updates import POLL_INTERVAL_S, OrderUpdates
from tests.exchange.binance.test_updates import FakeVenue, report


class FlakyVenue(FakeVenue):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def list_open(self):
        if self.failures:
            self.failures -= 1
            self.calls.append("openOrders: 500")
            raise StatusUnknown("binance -1000: An unknown error occurred")
        return super().list_open()


class StreamThatComesUp:
    """A user stream that reports itself up as soon as it starts."""

    def __init__(self, on_event, on_state) -> None:
        self.on_state = on_state

    def start(self) -> None:
        self.on_state(True)

    def is_alive(self) -> bool:
        return True

    def stop(self) -> None:
        self.on_state(False)


def test_a_failed_catch_up_poll_is_due_again_while_the_stream_is_up():
    venue, tracker, heard = FlakyVenue(), OpenOrderTracker(), []
    updates = OrderUpdates(tracker=tracker, list_open=venue.list_open,
                           get_order=venue.get_order, budget=venue.budget,
                           clock=lambda: venue.now, stream_factory=StreamThatComesUp)
    updates.set_listener(heard.append)
    tracker.note(report("stop-1"))
    venue.orders["stop-1"] = report("stop-1", OrderState.FILLED, executed="1")  # filled unseen
    venue.failures = 1
    updates.start_stream()

    with pytest.raises(StatusUnknown):
        updates.poll()
    venue.now += POLL_INTERVAL_S
    due_again = updates.poll_due()
    polled = updates.poll()

    assert updates.stream_up and due_again
    assert venue.calls == ["openOrders: 500", "openOrders", "order stop-1"]
    assert [(r.client_order_id, r.state) for r in polled] == [("stop-1", OrderState.FILLED)]
    assert heard == polled
