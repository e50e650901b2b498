"""``ratchet replay PRICES.csv --symbol SYM [-c CONFIG] [--report OUT.json] [--plot OUT.png]``.

The pair's settings come from the config's ``[[pairs]]`` entry for SYM (or ``[defaults]``);
a missing config file means the §3 defaults. A file of ``PROGRESS_MIN_PRICES`` prices or more
shows a progress bar (rich) while it replays, when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from actors.replay import ReplayResult, run_replay
from cli.main import add_config_arg
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
    # A replay's trades are in its report; the log carries only what went wrong.
    configure_logging(args.log_format or (cfg.engine.log_format if cfg else "kv"),
                      level="WARNING")
    # A pair that stops the replay dies on purpose; its error is the one line printed below.
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
    for out in (args.report, args.plot):
        if out and not Path(out).resolve().parent.is_dir():
            raise InputError(f"{out}: directory does not exist")
    points = read_prices(args.prices)
    try:
        with progress(points, f"replay {symbol}") as feed:
            result = run_replay(feed, settings, record_stops=bool(args.plot),
                                balances=cfg.paper.balances if cfg else None)
    except (BelowMinNotional, EntryRefused) as exc:
        raise InputError(f"replay stopped: {exc}") from None
    report = result.to_report()
    if result.entry_refusals and not report["trades"]:
        raise InputError(f"replay of {symbol} never entered: {result.entry_refusals} entries "
                         f"refused, the last: {result.refusal_reason}")
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(points, result, symbol, args.plot)
    total = sum((Decimal(t["pnl"]) for t in report["trades"]), Decimal(0))
    print(f"replayed {result.prices} prices of {symbol}: {len(report['trades'])} trades, "
          f"{result.stop_moves} stop moves, {result.orders_sent} orders, pnl {total}",
          file=sys.stdout)
    return 0


@contextlib.contextmanager
def progress(points: Sequence[PricePoint], label: str,
             minimum: int = PROGRESS_MIN_PRICES) -> Iterator[Iterator[PricePoint]]:
    """``points`` as an iterator that advances a progress bar on stderr as replay consumes
    them; a plain iterator when stderr is not a terminal or the file is short."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_terminal or len(points) < minimum:
        yield iter(points)
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(label, total=len(points))

        def advancing() -> Iterator[PricePoint]:
            for i, point in enumerate(points, 1):
                yield point
                if i % 1000 == 0:
                    bar.update(task, completed=i)
            bar.update(task, completed=len(points))

        yield advancing()


def plot(points, result: ReplayResult, symbol: str, out: str) -> None:
    """Price, the stop line, entries (^) and exits (v). Floats here are for display only."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'ratchet[plot]'") from None
    index = {}
    for i, p in enumerate(points):
        index.setdefault(p.time, i)
    fig, ax = plt.subplots(figsize=(14, 6))
    ax.plot(range(len(points)), [float(p.price) for p in points], lw=0.5,  # display
            color="#555", label="price")
    if result.stops:
        nan = float("nan")  # display: a gap while flat
        ax.step(range(len(result.stops)),
                [nan if s is None else float(s) for _, s in result.stops],  # display
                where="post", lw=0.8, color="#d62728", label="stop")
    trades = result.trades
    ax.scatter([index.get(t["entry_time"], 0) for t in trades],
               [float(t["entry_price"]) for t in trades], marker="^", color="#2ca02c",  # display
               s=18, label="entry", zorder=3)
    ax.scatter([index.get(t["exit_time"], 0) for t in trades],
               [float(t["exit_price"]) for t in trades], marker="v", color="#1f77b4",  # display
               s=18, label="exit", zorder=3)
    ax.set_title(f"{symbol}: {len(trades)} trades, {result.stop_moves} stop moves")
    ax.set_xlabel("price index")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
