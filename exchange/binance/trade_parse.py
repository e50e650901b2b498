"""The three fields a stop needs from a trade message, without parsing the rest.

A market-stream message is ``{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":...,
"s":"BTCUSDT",...,"p":"50123.45000000",...,"T":1672515782136,...}}`` (combined) or the bare
``data`` object (raw). The engine needs the symbol, the price and the trade time, and needs
them cheaply: a socket can bring tens of thousands of these a second.

``TradeParser.trade`` splits the message at its double quotes and reads the three values at
the positions it learned from an earlier message, after checking the key names there and the
event type: one ``bytes.split`` and a few comparisons (``make bench`` prints its cost beside
``json.loads``). Every message the fast path does not recognise goes through ``json.loads``
(``TradeParser.slow``): a trade laid out differently (the parser learns the new layout from
it), a subscription answer, ``serverShutdown``, an error. Nothing is decoded to ``str`` and no
Decimal is made: the price stays the venue's bytes until a delivery (``actors.conflation``).

A price must be plain decimal notation (digits, at most one ``.``, no leading zero before
another digit), which is what Binance sends; the slot's exact comparison of price strings
relies on it. A trade with any other price or time is refused (``UnreadableTrade``).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

#: The event types whose ``s``, ``p`` and ``T`` are a trade's symbol, price and time.
TRADE_EVENTS = frozenset({b"trade", b"aggTrade"})


class UnreadableTrade(ValueError):
    """A trade message whose price or time is not what Binance sends: skip it, log it."""


class Layout(NamedTuple):
    """Positions in ``message.split(b'"')``: the ``e`` value, the ``s``, ``p`` and ``T``
    keys, and how many bytes follow the time's digits (``,`` or ``}}``). A tuple: the hot
    path unpacks it in one step."""

    event: int
    symbol: int
    price: int
    time: int
    time_tail: int


class TradeParser:
    """One per connection (it keeps the layout it learned)."""

    __slots__ = ("layout",)

    def __init__(self) -> None:
        self.layout: Layout | None = None

    def trade(self, message: bytes) -> tuple[bytes, bytes, bytes] | None:
        """``(symbol, price, time_ms)`` of a trade in the learned layout, else None (then
        ask ``slow``). Raises ``UnreadableTrade`` for a trade with a malformed price or time."""
        layout = self.layout
        if layout is None:
            return None
        event, s, p, t, tail = layout
        parts = message.split(b'"')
        try:
            if (parts[s] != b"s" or parts[p] != b"p" or parts[t] != b"T"
                    or parts[event] not in TRADE_EVENTS):
                return None
            price = parts[p + 2]
            ms = parts[t + 1][1:-tail]
            symbol = parts[s + 2]
        except IndexError:
            return None
        if not ms.isdigit() or not price.replace(b".", b"", 1).isdigit() or (
                price[0] == 48 and price[1:2] not in (b".", b"")) or price[0] == 46:
            raise UnreadableTrade(f"trade with price {price[:40]!r} and time {ms[:40]!r}")
        return symbol, price, ms

    def slow(self, message: bytes) -> tuple[tuple[bytes, bytes, bytes] | None, Any]:
        """``json.loads`` the message: ``(trade, None)`` for a trade (and its layout learned),
        else ``(None, payload)`` with the event object of a combined frame unwrapped.
        Raises ``ValueError`` (``UnreadableTrade`` included) for what cannot be read."""
        decoded = json.loads(message)
        payload = decoded.get("data", decoded) if isinstance(decoded, dict) else decoded
        if not isinstance(payload, dict) or payload.get("e") not in ("trade", "aggTrade"):
            return None, payload
        symbol, price, ms = payload.get("s"), payload.get("p"), payload.get("T")
        if not (isinstance(symbol, str) and isinstance(price, str) and type(ms) is int
                and ms >= 0 and _plain(price.encode())):
            raise UnreadableTrade(f"trade with price {price!r} and time {ms!r}")
        self.layout = learn(message) or self.layout
        return (symbol.encode(), price.encode(), str(ms).encode()), None


def learn(message: bytes) -> Layout | None:
    """The layout of a trade message whose keys are plain (no escaped quote before them)."""
    parts = message.split(b'"')
    found: dict[bytes, int] = {}
    for k in range(1, len(parts) - 1, 2):
        if parts[k + 1][:1] == b":" and parts[k] in (b"e", b"s", b"p", b"T"):
            found.setdefault(parts[k], k)
    if len(found) < 4:
        return None
    e, s, p, t = found[b"e"], found[b"s"], found[b"p"], found[b"T"]
    if parts[e + 1] != b":" or parts[s + 1] != b":" or parts[p + 1] != b":":
        return None  # e, s and p must be strings
    number = parts[t + 1][1:]
    digits = len(number) - len(number.lstrip(b"0123456789"))
    if digits == 0 or len(number) == digits:
        return None
    return Layout(event=e + 2, symbol=s, price=p, time=t, time_tail=len(number) - digits)


def _plain(price: bytes) -> bool:
    """Digits with at most one ``.`` and no leading zero before another digit."""
    return (price.replace(b".", b"", 1).isdigit() and price[:1] != b"."
            and (price[:1] != b"0" or price[1:2] in (b".", b"")))
