"""The Gateway's order scheduler: which command goes to the venue next, under its ORDERS budget.

Pure: no threads, no sleeps, no IO. The Gateway adds the pairs' commands, asks ``next(now, ...)``
for the one to send, and, when nothing may go now, ``wake_at(now, ...)`` for when to ask again.

Commands come in four classes, served strictly in this order:

1. ``FREE``: what costs no ORDERS budget (queries, cancels, the reads a refusal asks for, the
   cancel of stray stops; settling an unknown outcome): sent at once, in arrival order.
2. ``PROTECT``: protective orders for coins held with no stop (a first stop, a stop placed
   again, a resize after a partial sale, a top-up's larger stop for coins just adopted) and
   exits at market. They wait only for the window to reopen; their wait is
   reported with each release (``ratchet_protection_wait_seconds``).
3. ``MOVE``: stop moves, only the latest per symbol, the widest gap first (or first come first
   served, for comparison).
4. ``ENTRY``: market buys. One leaves only while the window can also cover its first stop: each
   entry released reserves one order until its stop arrives (or the window ends), so buying
   never makes a bare position by itself.

With ``classes=False`` it behaves as the Gateway did before the classes, for comparison
(``bench/budget_bench.py``): protective orders and entries in one first-come queue sent whatever
the budget, and moves as above.

The budget is the venue's fixed ORDERS window (10 s on Binance): at most ``headroom`` of its
limit is used, counting both what the venue last reported and what was released here in the
same window. A pause (a ban, a 429's ``Retry-After``) holds everything: nothing is sent while
the venue said to wait.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from core.commands import (
    CancelOrder,
    CancelStrays,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
    ReadBalance,
    RefreshFilters,
    ReplaceStop,
    WatchMarket,
)
from core.types import Side


class Kind(IntEnum):
    """A command's class; lower goes first."""

    FREE = 0
    PROTECT = 1
    MOVE = 2
    ENTRY = 3


def kind_of(command: Any) -> Kind:
    """The class of a command (a Gateway's own ``Settle``/``ReadAgain`` wrappers are FREE)."""
    match command:
        case ReplaceStop(old=old, new=new) if new.qty > old.qty:
            return Kind.PROTECT  # a top-up: the added coins have no stop until it goes
        case ReplaceStop():
            return Kind.MOVE
        case PlaceMarketOrder(order=order) if order.side is Side.BUY:
            return Kind.ENTRY
        case PlaceStop() | PlaceMarketOrder():
            return Kind.PROTECT
        case CancelOrder() | QueryOrder() | CancelStrays() | WatchMarket() | RefreshFilters() \
                | ReadBalance():
            return Kind.FREE
    return Kind.FREE  # the Gateway's own settles and re-reads


@dataclass(frozen=True, slots=True)
class Released:
    """A command to send now, its class, and how long it waited here."""

    command: Any
    kind: Kind
    waited_s: float


@dataclass(slots=True)
class _Waiting:
    command: Any
    since: float


@dataclass(slots=True)
class OrderScheduler:
    headroom: float = 0.9
    window_s: float = 10.0
    widest_first: bool = True
    classes: bool = True
    free: deque = field(default_factory=deque)
    protect: deque = field(default_factory=deque)
    moves: dict = field(default_factory=dict)  # symbol -> _Waiting (the latest move)
    entries: deque = field(default_factory=deque)
    paused_until: float = 0.0
    _window: int = -1
    _sent: int = 0  # orders released in the current window
    _reserved: dict = field(default_factory=dict)  # entry's client id -> (symbol, window)

    # --- arrivals -------------------------------------------------------------------------

    def add(self, command: Any, now: float) -> None:
        kind = kind_of(command)
        waiting = _Waiting(command, now)
        if kind is Kind.MOVE:
            symbol = command.new.symbol
            self.moves.pop(symbol, None)  # re-inserted last: arrival order for FIFO
            self.moves[symbol] = waiting
            return
        if kind is Kind.PROTECT and isinstance(command, PlaceStop):
            self._unreserve(command.order.symbol)  # the entry's stop came
        self._queue_of(kind).append(waiting)

    def again(self, command: Any, now: float) -> None:
        """A command the venue refused for a rate limit: first of its class, next time."""
        kind = kind_of(command)
        if kind is Kind.MOVE:
            self.moves.setdefault(command.new.symbol, _Waiting(command, now))
            return
        if kind is Kind.ENTRY or kind is Kind.PROTECT:
            self._sent = max(self._sent - 1, 0)  # it was counted, and not taken
        self._queue_of(kind).appendleft(_Waiting(command, now))

    def _queue_of(self, kind: Kind) -> deque:
        if not self.classes and kind is not Kind.MOVE:
            return self.free  # the one first-come queue, whatever the budget
        return {Kind.FREE: self.free, Kind.PROTECT: self.protect, Kind.ENTRY: self.entries}[kind]

    def drop_move(self, new_client_order_id: str, symbol: str) -> Any | None:
        """Withdraw a move not yet released; returns it (None: already released)."""
        waiting = self.moves.get(symbol)
        if waiting is None or waiting.command.new.client_order_id != new_client_order_id:
            return None
        del self.moves[symbol]
        return waiting.command

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def __len__(self) -> int:
        return len(self.free) + len(self.protect) + len(self.moves) + len(self.entries)

    # --- departures -----------------------------------------------------------------------

    def next(self, now: float, *, orders_used: int = 0, orders_limit: int = 100) -> Released | None:
        """The command to send now, or None (ask ``wake_at`` when to try again)."""
        if now < self.paused_until:
            return None
        if self.free:
            waiting = self.free.popleft()
            return self._release(waiting, kind_of(waiting.command), now)
        left = self._left(now, orders_used, orders_limit)
        if not self.classes:
            return self._release(self._next_move(), Kind.MOVE, now) \
                if self.moves and left >= 1 else None
        if self.protect and left >= 1:
            return self._release(self.protect.popleft(), Kind.PROTECT, now)
        if self.protect:
            return None  # protection waits for the window: nothing may go before it
        reserved = self._reservations(now)
        if self.moves and left - reserved >= 1:
            return self._release(self._next_move(), Kind.MOVE, now)
        if self.moves:
            return None
        if self.entries and left - reserved >= 2:  # the buy, and room for its stop
            waiting = self.entries.popleft()
            order = waiting.command.order
            self._reserved[order.client_order_id] = (order.symbol, self._window)
            return self._release(waiting, Kind.ENTRY, now)
        return None

    def wake_at(self, now: float) -> float | None:
        """When ``next`` may release something it held back now (None: nothing waits)."""
        if not len(self):
            return None
        if now < self.paused_until:
            return self.paused_until
        return (math.floor(now / self.window_s) + 1) * self.window_s

    def drain_protective(self) -> list[Any]:
        """Shutting down: the protective commands waiting (a stop, the sale that follows a
        canceled one), everything else dropped."""
        keep = [w.command for w in self.protect] + [
            w.command for w in self.free if isinstance(w.command, PlaceStop | PlaceMarketOrder)]
        self.free.clear()
        self.protect.clear()
        self.moves.clear()
        self.entries.clear()
        return keep

    # --- the budget -----------------------------------------------------------------------

    def _left(self, now: float, used: int, limit: int) -> int:
        self._roll(now)
        allowed = max(int(limit * self.headroom), 1)
        return allowed - max(self._sent, used)

    def _roll(self, now: float) -> None:
        window = math.floor(now / self.window_s)
        if window != self._window:
            self._window, self._sent = window, 0

    def _reservations(self, now: float) -> int:
        self._roll(now)
        self._reserved = {cid: (s, w) for cid, (s, w) in self._reserved.items()
                          if w == self._window}
        return len(self._reserved)

    def _unreserve(self, symbol: str) -> None:
        for cid, (reserved_for, _) in list(self._reserved.items()):
            if reserved_for == symbol:
                del self._reserved[cid]
                return

    def _next_move(self) -> _Waiting:
        if self.widest_first:
            symbol = max(self.moves, key=lambda s: self.moves[s].command.gap)
        else:
            symbol = next(iter(self.moves))
        return self.moves.pop(symbol)

    def _release(self, waiting: _Waiting, kind: Kind, now: float) -> Released:
        if kind is not Kind.FREE:
            self._sent += 1
        return Released(waiting.command, kind, now - waiting.since)
