"""A one-tick mailbox per symbol that conflates without losing a high or a low.

The Feed ``put``s every price; the consumer ``take``s. While the consumer lags, the slot keeps
the last price and the highest and lowest since the last ``take``. ``put`` returns True only
when the slot was empty, so the Feed sends one ``PriceReady`` per delivery, not per price.

Two ways in, one way out:
- ``put`` (and ``put_tick``) take Decimals: the simulated feed, replay, the Gateway in paper
  mode.
- ``put_text`` takes the venue's own bytes: the price exactly as Binance wrote it and the trade
  time in epoch milliseconds. The market-data edge folds every message of a socket with it, so
  the hot path builds no Decimal and no ``Tick``: the slot keeps the strings of the last, the
  highest and the lowest price, and ``take`` turns them into Decimals once per delivery. The
  Decimals delivered are exactly the venue's strings.

Comparing price strings without Decimal is exact for the plain decimal notation Binance uses
(digits, at most one ``.``, no sign, no exponent, no leading zero before another digit; the
edge's parser refuses anything else): the longer integer part is the larger number, and with
integer parts of equal length the byte order of the strings is the numeric order (a shorter
fraction is its own prefix padded with zeros, which never sorts above it).
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pykka

from core.types import Tick

_MS = Decimal(1000)


class TickSlot:
    __slots__ = ("_lock", "_tick", "symbol", "_last", "_high", "_low", "_high_int", "_low_int",
                 "_ms", "_count", "_received_ns")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._lock = threading.Lock()
        self._tick: Tick | None = None  # pending Decimal prices
        # Pending venue strings (``_count`` > 0): last, high, low, the length of the integer
        # part of high and low, the last trade time (ms), how many, when the first arrived.
        self._last = self._high = self._low = self._ms = b""
        self._high_int = self._low_int = 0
        self._count = 0
        self._received_ns = 0

    def put(self, price: Decimal, ts: Decimal, time: str = "", received_ns: int = 0) -> bool:
        """Add one price; True when the consumer must be told (the slot was empty)."""
        with self._lock:
            pending = self._tick if not self._count else self._text_tick()
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
            pending = self._tick if not self._count else self._text_tick()
            if pending is None:
                self._tick = tick
                return True
            self._tick = Tick(
                symbol=self.symbol, price=tick.price, high=max(pending.high, tick.high),
                low=min(pending.low, tick.low), ts=tick.ts, time=tick.time,
                count=pending.count + tick.count, received_ns=pending.received_ns,
            )
            return False

    def put_text(self, price: bytes, ms: bytes, received_ns: int) -> bool:
        """Fold one venue price: ``price`` as the venue wrote it (plain decimal notation),
        ``ms`` the trade time in epoch milliseconds (ASCII digits), ``received_ns`` the
        ``perf_counter_ns`` when it arrived. True when the consumer must be told."""
        dot = price.find(b".")
        whole = dot if dot >= 0 else len(price)
        with self._lock:
            count = self._count
            if count:
                if whole > self._high_int or (whole == self._high_int and price > self._high):
                    self._high, self._high_int = price, whole
                elif whole < self._low_int or (whole == self._low_int and price < self._low):
                    self._low, self._low_int = price, whole
                self._last, self._ms, self._count = price, ms, count + 1
                return False
            if self._tick is not None:  # Decimal prices pending: merge as Decimals (rare)
                decimal = Decimal(price.decode())
                self._tick = Tick(
                    symbol=self.symbol, price=decimal, high=max(self._tick.high, decimal),
                    low=min(self._tick.low, decimal), ts=Decimal(int(ms)) / _MS,
                    time=iso_ms(int(ms)), count=self._tick.count + 1,
                    received_ns=self._tick.received_ns)
                return False
            self._last = self._high = self._low = price
            self._high_int = self._low_int = whole
            self._ms, self._count, self._received_ns = ms, 1, received_ns
            return True

    def take(self) -> Tick | None:
        with self._lock:
            if self._count:
                return self._text_tick()
            tick, self._tick = self._tick, None
            return tick

    def _text_tick(self) -> Tick:
        """The pending venue strings as a Tick, and the slot emptied (holding the lock)."""
        ms = int(self._ms)
        last = Decimal(self._last.decode())
        tick = Tick(symbol=self.symbol, price=last,
                    high=last if self._high is self._last else Decimal(self._high.decode()),
                    low=last if self._low is self._last else Decimal(self._low.decode()),
                    ts=Decimal(ms) / _MS, time=iso_ms(ms), count=self._count,
                    received_ns=self._received_ns)
        self._count = 0
        self._last = self._high = self._low = self._ms = b""
        return tick


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ``2026-01-02T03:04:05.678Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


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
