"""``ratchet replay PRICES.csv --symbol SYM [-c CONFIG] [--report OUT.json] [--plot OUT.png]``.

The pair's settings come from the config's ``[[pairs]]`` entry for SYM, else ``[defaults]``
(one line on stderr says so); a missing config file means the §3 defaults. A file of
``PROGRESS_MIN_PRICES`` prices or more shows a progress bar (rich) while it replays, when stderr
is a terminal.

Ctrl-C ends the feed where it is: the replay settles what it has, writes its report and plot
marked ``"interrupted"`` (how many prices, up to which time), says so in one line and exits 130.

The plot (``figure``): time on the x axis as dates, the price with the live stop as a step line,
entries (filled ▲) drawn over exits (hollow ▼), and under it the cumulative realized P&L in the
quote asset; the title carries the settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.replay import ReplayResult, run_replay
from cli.main import EXIT_INTERRUPTED, add_config_arg
from cli.numbers import SymbolFormat
from core.config import Config, load_config
from core.errors import BelowMinNotional, EntryRefused, InputError
from core.prices import PricePoint, read_prices
from core.stop_mode import choose
from core.symbols import paper_filters
from core.types import PairSettings
from telemetry.logs import configure_logging

PROGRESS_MIN_PRICES = 20_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a price CSV lock-step through the engine")
    p.add_argument("prices", metavar="PRICES.csv", help="timestamp plus price, or OHLC bars")
    p.add_argument("--symbol", required=True, help="the pair to replay, e.g. BTCUSDT")
    add_config_arg(p)
    p.add_argument("--report", metavar="OUT.json", help="write the JSON report here")
    p.add_argument("--plot", metavar="OUT.png", help="draw price, stop, entries and exits")
    p.add_argument("--log-format", choices=("kv", "json"),
                   help="warnings and errors as key=value (default) or JSON lines")
    p.set_defaults(handler=replay)


def config_for(config_path: str) -> Config | None:
    """The replay's config; None when there is none at all (the DESIGN §3 defaults)."""
    path = Path(config_path)
    if not path.exists() and config_path == "ratchet.toml":
        return None
    return load_config(path, need_keys=False, need_pairs=False)


def settings_for(config_path: str, symbol: str, cfg: Config | None = None) -> PairSettings:
    """The pair's settings for a replay (or a sweep): its ``[[pairs]]`` entry, else
    ``[defaults]``; its assets must be known, and a native stop must fit its TRAILING_DELTA
    bounds (a clear error now, not at the first buy)."""
    cfg = cfg or config_for(config_path)
    settings = PairSettings(symbol=symbol) if cfg is None else replace(
        cfg.settings_for(symbol), symbol=symbol)
    choose(settings, paper_filters(settings))
    return settings


def replay(args: argparse.Namespace) -> int:
    symbol = args.symbol.upper()
    cfg = config_for(args.config)
    settings = settings_for(args.config, symbol, cfg)
    if cfg is not None and symbol not in cfg.symbols:
        sys.stderr.write(f"ratchet: {symbol} has no [[pairs]] entry in {cfg.source}: replaying "
                         f"it with [defaults] (trail_pct {settings.trail_pct}, min_move_pct "
                         f"{settings.min_move_pct})\n")
    # A replay's trades are in its report; the log carries only what went wrong.
    configure_logging(args.log_format or (cfg.engine.log_format if cfg else "kv"),
                      level="WARNING")
    # A pair that stops the replay dies on purpose; its error is the one line printed below.
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
    for out in (args.report, args.plot):
        if out and not Path(out).resolve().parent.is_dir():
            raise InputError(f"{out}: directory does not exist")
    points = read_prices(args.prices)
    feed = Interruptible(points)
    try:
        with feed.on_sigint(), progress(feed, f"replay {symbol}", total=len(points)) as prices:
            result = run_replay(prices, settings, record_stops=bool(args.plot),
                                balances=cfg.paper.balances if cfg else None)
    except (BelowMinNotional, EntryRefused) as exc:
        raise InputError(f"replay stopped: {exc}") from None
    report = result.to_report()
    replayed = points[:feed.consumed]
    if feed.interrupted:
        report["interrupted"] = {"prices": feed.consumed, "of": len(points),
                                 "last_time": replayed[-1].time if replayed else None}
    elif result.entry_refusals and not report["trades"]:
        raise InputError(f"replay of {symbol} never entered: {result.entry_refusals} entries "
                         f"refused, the last: {result.refusal_reason}")
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(replayed, result, settings, args.plot, interrupted=feed.interrupted)
    number = number_format(settings)
    total = sum((Decimal(t["pnl"]) for t in report["trades"]), Decimal(0))
    print(f"replayed {result.prices} prices of {symbol}: {len(report['trades'])} trades, "
          f"{result.stop_moves} stop moves, {result.orders_sent} orders, "
          f"pnl {number.money(total)}", file=sys.stdout)
    if feed.interrupted:
        written = " and ".join(f for f in (args.report, args.plot) if f) or "nothing to write"
        sys.stderr.write(f"ratchet: replay interrupted (Ctrl-C) after {feed.consumed} of "
                         f"{len(points)} prices, at {report['interrupted']['last_time']}: "
                         f"partial results in {written}\n")
        return EXIT_INTERRUPTED
    return 0


def number_format(settings: PairSettings) -> SymbolFormat:
    """The replayed symbol's numbers: the paper filters' tick, step and quote asset."""
    filters = paper_filters(settings)
    return SymbolFormat(tick=filters.tick, step=filters.step, quote=filters.quote_asset)


class Interruptible:
    """The replay's prices; once Ctrl-C is pressed (``on_sigint``), the feed ends where it is
    and the replay settles and reports what it has."""

    def __init__(self, points: Sequence[PricePoint]) -> None:
        self.points = points
        self.consumed = 0
        self._stop = threading.Event()

    @property
    def interrupted(self) -> bool:
        return self._stop.is_set()

    def interrupt(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[PricePoint]:
        for point in self.points:
            if self._stop.is_set():
                return
            self.consumed += 1
            yield point

    @contextlib.contextmanager
    def on_sigint(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, lambda *_: self.interrupt())
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def progress(points: Iterable[PricePoint], label: str, minimum: int = PROGRESS_MIN_PRICES,
             total: int | None = None) -> Iterator[Iterator[PricePoint]]:
    """``points`` as an iterator that advances a progress bar on stderr as replay consumes
    them; a plain iterator when stderr is not a terminal or the file is short."""
    from rich.console import Console
    from rich.progress import Progress

    total = len(points) if total is None else total  # type: ignore[arg-type]
    console = Console(stderr=True)
    if not console.is_terminal or total < minimum:
        yield iter(points)
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advancing() -> Iterator[PricePoint]:
            i = 0
            for i, point in enumerate(points, 1):
                yield point
                if i % 1000 == 0:
                    bar.update(task, completed=i)
            bar.update(task, completed=i)

        yield advancing()


def plot(points: Sequence[PricePoint], result: ReplayResult, settings: PairSettings,
         out: str, *, interrupted: bool = False) -> None:
    """Draw ``figure`` into the PNG ``out``."""
    fig = figure(points, result, settings, interrupted=interrupted)
    import matplotlib.pyplot as plt

    fig.savefig(out, dpi=110)
    plt.close(fig)


def figure(points: Sequence[PricePoint], result: ReplayResult, settings: PairSettings, *,
           interrupted: bool = False) -> Any:
    """The replay as a trader reads it: two panels sharing a date axis. Above, the price and
    the live stop (a step line, a gap while flat), entries as filled ▲ drawn over exits as
    hollow ▼; below, the cumulative realized P&L in the quote asset. Floats here are for
    display only."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'ratchet[plot]'") from None
    number = number_format(settings)
    quote = number.quote
    when = {p.time: _date(p.ts) for p in points}
    times = [_date(p.ts) for p in points]
    fig, (ax, pnl_ax) = plt.subplots(2, 1, figsize=(14, 8), sharex=True,
                                     gridspec_kw={"height_ratios": (3, 1)})
    ax.plot(times, [float(p.price) for p in points], lw=0.5, color="#555",  # display
            label="price")
    if result.stops:
        nan = float("nan")  # display: a gap while flat
        stops = [(when[t], nan if s is None else float(s))  # display
                 for t, s in result.stops if t in when]
        ax.step([t for t, _ in stops], [s for _, s in stops], where="post", lw=0.8,
                color="#d62728", label="stop")
    trades = [t for t in result.trades if t.get("entry_time") in when]
    exits = [t for t in trades if t.get("exit_time") in when]
    ax.scatter([when[t["exit_time"]] for t in exits],
               [float(t["exit_price"]) for t in exits],  # display
               marker="v", facecolors="none", edgecolors="#1f77b4", s=36, linewidths=1.2,
               label="exit", zorder=3)
    ax.scatter([when[t["entry_time"]] for t in trades],
               [float(t["entry_price"]) for t in trades],  # display
               marker="^", color="#2ca02c", s=22, label="entry", zorder=4)
    ax.set_ylabel(f"price ({quote})" if quote else "price")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    cumulative, steps = Decimal(0), [(times[0], 0.0)] if times else []
    for t in exits:
        cumulative += Decimal(t["pnl"])
        steps.append((when[t["exit_time"]], float(cumulative)))  # display
    if times:
        steps.append((times[-1], float(cumulative)))  # display
    pnl_ax.step([t for t, _ in steps], [v for _, v in steps], where="post", color="#9467bd",
                lw=1.0)
    pnl_ax.axhline(0, color="#999", lw=0.5)
    pnl_ax.set_ylabel(f"cumulative P&L ({quote})" if quote else "cumulative P&L")
    pnl_ax.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()
    pnl_ax.xaxis.set_major_locator(locator)
    pnl_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    pnl_ax.set_xlabel("time (UTC)")
    state = ", interrupted" if interrupted else ""
    ax.set_title(
        f"{settings.symbol} replay{state}: trail {settings.trail_pct}%, min move "
        f"{settings.min_move_pct}%, limit offset {settings.limit_offset_pct}%, activation "
        f"{settings.activation_pct}%, {settings.stop_mode.value} stops, "
        f"{settings.quote_per_trade} {quote} a trade\n{len(result.trades)} trades, "
        f"{result.stop_moves} stop moves, P&L {number.money(cumulative)}")
    fig.tight_layout()
    return fig


def _date(ts: Decimal) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=UTC)  # display
