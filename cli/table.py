"""The pairs table a person reads: ``ratchet run``'s live view and ``ratchet status`` print the
same one (rich). Rows are plain data built at the edge; nothing here asks an actor.

Money stays Decimal: the distance to the stop is computed in Decimal and every number is
formatted from its Decimal (cli/numbers.py): prices to the symbol's tick, quantities to its
step, P&L in the quote asset with its code.

Two layouts. The wide one (a terminal of ``WIDE_MIN`` columns or more, and ``ratchet status``
into a pipe) has every column. Below that, the narrow one drops the highest price, the realized
P&L and the last event (the events are listed under the table, the realized P&L in the title
line of ``status``), then, while the table is still wider than the terminal, the distance to the
stop and the quantity: a column is dropped whole, never a number cut.

A native trailing stop's level is Ratchet's estimate (Binance trails it and does not report
it): its cell reads ``~`` before the number. An adopted position (coins held before Ratchet,
``entry = "adopt"``) reads ``adopted`` after its state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cli.numbers import PLAIN, SymbolFormat, to_places

HUNDRED = Decimal(100)
COLUMNS = ("symbol", "price", "highest", "stop", "to stop %", "position", "unrealized",
           "realized", "state", "last event")
#: The narrow layout's columns, and the order they go in when even it does not fit.
NARROW = ("symbol", "price", "stop", "to stop %", "position", "unrealized", "state")
NARROW_DROPS = ("to stop %", "position", "stop")
#: Terminals at least this wide get the wide layout.
WIDE_MIN = 130
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
    fmt: SymbolFormat = PLAIN  # the symbol's tick, step and quote asset

    def cells(self) -> dict[str, str | Text]:
        """Every column's cell, formatted."""
        stop = self.fmt.price(self.stop)
        if self.stop_estimated and self.stop is not None:
            stop = "~" + stop
        state = f"{self.state} adopted" if self.adopted else self.state
        return {"symbol": self.symbol, "price": self.fmt.price(self.price),
                "highest": self.fmt.price(self.highest), "stop": stop,
                "to stop %": fmt(self.distance_pct, 2), "position": self.fmt.qty(self.qty),
                "unrealized": _signed(self.unrealized, self.fmt),
                "realized": _signed(self.realized, self.fmt),
                "state": Text(state, style=_STATE_STYLE.get(self.state, "")),
                "last event": self.last_event}

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
    return to_places(value, places)


def pairs_table(rows: Iterable[PairRow], *, title: str | None = None,
                width: int | None = None) -> Table:
    """The table for a terminal ``width`` columns wide (None: the wide layout)."""
    rows = list(rows)
    cells = [row.cells() for row in rows]
    if width is None or width >= WIDE_MIN:
        return _table(COLUMNS, cells, title=title)
    columns = list(NARROW)
    for name in NARROW_DROPS:
        if _width(_table(columns, cells, title=None, narrow=True)) <= width:
            break
        columns.remove(name)
    return _table(columns, cells, title=title, narrow=True)


def _table(columns: Sequence[str], cells: list[dict[str, str | Text]], *, title: str | None,
           narrow: bool = False) -> Table:
    if narrow:
        table = Table(title=title, title_justify="left", header_style="bold", expand=False,
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    else:
        table = Table(title=title, title_justify="left", header_style="bold", expand=False)
    for name in columns:
        header = "P&L" if narrow and name == "unrealized" else name
        table.add_column(header, justify="left" if name in ("symbol", "state", "last event")
                         else "right", no_wrap=name != "last event" or narrow)
    for row in cells:
        table.add_row(*(row[name] for name in columns))
    return table


def _width(table: Table) -> int:
    """The width ``table`` needs to show every cell whole."""
    console = Console(width=10_000)
    return console.measure(table).maximum


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


def live_view(rows: Iterable[PairRow], events: Sequence[EventRow], *, title: str,
              width: int | None = None) -> Group:
    return Group(pairs_table(rows, title=title, width=width), events_table(events))


def _signed(value: Decimal | None, number: SymbolFormat = PLAIN) -> Text:
    if value is None:
        return Text("-")
    text = number.money(value) if number.quote or number.tick else fmt(value, 2)
    return Text(text, style="green" if value > 0 else "red" if value < 0 else "")
