"""A one-tick mailbox per symbol that conflates without losing a high or a low.

The Feed ``put``s every price; the consumer ``take``s. While the consumer lags, the slot keeps
the last price and the highest and lowest since the last ``take``. ``put`` returns True only
when the slot was empty, so the Feed sends one ``PriceReady`` per delivery, not per price.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pykka

from core.types import Tick


class TickSlot:
    __slots__ = ("_lock", "_tick", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._lock = threading.Lock()
        self._tick: Tick | None = None

    def put(self, price: Decimal, ts: Decimal, time: str = "", received_ns: int = 0) -> bool:
        """Add one price; True when the consumer must be told (the slot was empty)."""
        with self._lock:
            pending = self._tick
            if pending is None:
                self._tick = Tick(symbol=self.symbol, price=price, high=price, low=price, ts=ts,
                                  time=time, received_ns=received_ns)
                return True
            self._tick = Tick(
                symbol=self.symbol, price=price, high=max(pending.high, price),
                low=min(pending.low, price), ts=ts, time=time, count=pending.count + 1,
                received_ns=pending.received_ns,
            )
            return False

    def put_tick(self, tick: Tick) -> bool:
        """Merge an already-conflated tick (Gateway → PairActor in paper mode)."""
        with self._lock:
            pending = self._tick
            if pending is None:
                self._tick = tick
                return True
            self._tick = Tick(
                symbol=self.symbol, price=tick.price, high=max(pending.high, tick.high),
                low=min(pending.low, tick.low), ts=tick.ts, time=tick.time,
                count=pending.count + tick.count, received_ns=pending.received_ns,
            )
            return False

    def take(self) -> Tick | None:
        with self._lock:
            tick, self._tick = self._tick, None
            return tick


def tell_if_alive(ref: pykka.ActorRef, message: Any) -> bool:
    """``tell``, but a consumer that died (and is being restarted) is not the sender's failure.

    Nothing is lost that matters: a restarted pair re-reads its state from the DB and settles
    every order whose outcome it did not see.
    """
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True


def tell_later(ref: pykka.ActorRef, delay_s: float, message: Any) -> None:
    """``tell_if_alive`` after ``delay_s`` seconds, from a daemon timer thread."""
    timer = threading.Timer(max(delay_s, 0.0), tell_if_alive, args=(ref, message))
    timer.daemon = True
    timer.start()
