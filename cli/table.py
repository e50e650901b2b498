"""The pairs table a person reads: ``ratchet run``'s live view and ``ratchet status`` print the
same one (rich). Rows are plain data built at the edge; nothing here asks an actor.

Money stays Decimal: the distance to the stop is computed in Decimal and every number is
formatted from its Decimal (``format(Decimal, ".2f")`` rounds without a float).

A native trailing stop's level is Ratchet's estimate (Binance trails it and does not report
it): its cell reads ``~`` before the number. An adopted position (coins held before Ratchet,
``entry = "adopt"``) reads ``adopted`` after its state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from rich.console import Group
from rich.table import Table
from rich.text import Text

HUNDRED = Decimal(100)
COLUMNS = ("symbol", "price", "highest", "stop", "to stop %", "position", "unrealized",
           "realized", "state", "last event")
ESTIMATE_NOTE = ("~ stop: Ratchet's estimate of a native trailing stop's level, "
                 "floor_tick(highest × (1 − trail_pct/100)); Binance trails the order and does "
                 "not report it")
_STATE_STYLE = {"OPEN": "green", "FLAT": "dim", "HALTED": "bold red", "DOWN": "red",
                "UNPROTECTED": "bold red", "ENTERING": "yellow", "EXITING": "yellow"}


@dataclass(frozen=True, slots=True, kw_only=True)
class PairRow:
    """One pair as shown. ``None`` means "none now" (flat, no price yet) and shows as ``-``."""

    symbol: str
    price: Decimal | None = None
    highest: Decimal | None = None
    stop: Decimal | None = None
    qty: Decimal | None = None
    unrealized: Decimal | None = None
    realized: Decimal | None = None
    state: str = "-"
    last_event: str = ""
    adopted: bool = False  # coins held before Ratchet (entry = "adopt")
    stop_estimated: bool = False  # a native trailing stop: ``stop`` is Ratchet's estimate

    @property
    def distance_pct(self) -> Decimal | None:
        """How far the price may fall before the stop triggers, in % of the price."""
        if self.price is None or self.stop is None or self.price <= 0:
            return None
        return (self.price - self.stop) / self.price * HUNDRED


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    """One order event under the table: wall-clock time (HH:MM:SS), symbol, what happened."""

    time: str
    symbol: str
    text: str


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """A Decimal for a cell: exact by default, else rounded to ``places``; None as ``-``."""
    if value is None:
        return "-"
    if places is None:
        return format(value.normalize() if value == value.to_integral() else value, "f")
    return format(value, f".{places}f")


def pairs_table(rows: Iterable[PairRow], *, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", expand=False)
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("symbol", "state", "last event")
                         else "right", no_wrap=name != "last event")
    for row in rows:
        stop = fmt(row.stop)
        if row.stop_estimated and row.stop is not None:
            stop = "~" + stop
        state = f"{row.state} adopted" if row.adopted else row.state
        table.add_row(
            row.symbol, fmt(row.price), fmt(row.highest), stop,
            fmt(row.distance_pct, 2), fmt(row.qty), _signed(row.unrealized),
            _signed(row.realized), Text(state, style=_STATE_STYLE.get(row.state, "")),
            row.last_event)
    return table


def events_table(events: Sequence[EventRow], *, title: str = "latest order events") -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None,
                  padding=(0, 1))
    for _ in range(3):
        table.add_column(no_wrap=True)
    for event in events:
        table.add_row(Text(event.time, style="dim"), event.symbol, event.text)
    if not events:
        table.add_row("", "", Text("none yet", style="dim"))
    return table


def live_view(rows: Iterable[PairRow], events: Sequence[EventRow], *, title: str) -> Group:
    return Group(pairs_table(rows, title=title), events_table(events))


def _signed(value: Decimal | None) -> Text:
    if value is None:
        return Text("-")
    text = format(value, ".2f")
    return Text(text, style="green" if value > 0 else "red" if value < 0 else "")
