"""``ratchet sweep PRICES.csv --symbol SYM --grid trail_pct=1,2,3,5 --grid min_move_pct=0.1,0.5
[-c CONFIG] [-o table.csv] [--heatmap out.png] [--jobs N]``.

Runs every combination of the grid on the pure core across worker processes (cli/sweep.py),
prints the table (rich), writes it as CSV with ``-o`` and a heatmap of P&L over the first two
grid axes with ``--heatmap`` (with more axes, each cell shows the best P&L over the others).
Settings not in the grid come from the config's ``[[pairs]]`` entry for SYM, as for
``ratchet replay``, so each cell equals one ``ratchet replay`` with its settings.

Exit codes: 0 done; 2 bad input (grid keys or values, the CSV, the config, an entry that
``min_notional`` cannot reach).
"""

from __future__ import annotations

import argparse
import csv
import sys
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cli.main import add_config_arg
from cli.replay_cmd import settings_for
from cli.sweep import Cell, Grid, parse_grid, run_sweep
from core.errors import InputError
from core.prices import read_prices

FIGURES = ("pnl", "trades", "orders", "stop_moves", "max_drawdown", "time_in_market_pct")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a grid of settings over a price CSV (pure core, "
                                     "all CPUs)")
    p.add_argument("prices", metavar="PRICES.csv", help="timestamp plus price, or OHLC bars")
    p.add_argument("--symbol", required=True, help="the pair, e.g. BTCUSDT")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a setting and its values, repeatable (trail_pct, min_move_pct, "
                        "limit_offset_pct, activation_pct, quote_per_trade, "
                        "stop_fill_timeout_s, fee_pct)")
    add_config_arg(p)
    p.add_argument("-o", "--output", metavar="TABLE.csv", help="write the table as CSV")
    p.add_argument("--heatmap", metavar="OUT.png", help="P&L over the first two grid axes")
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: CPUs)")
    p.set_defaults(handler=sweep)


def sweep(args: argparse.Namespace) -> int:
    symbol = args.symbol.upper()
    grid = parse_grid(args.grid, symbol)
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    for out in (args.output, args.heatmap):
        if out and not Path(out).resolve().parent.is_dir():
            raise InputError(f"{out}: directory does not exist")
    base = settings_for(args.config, symbol)
    points = read_prices(args.prices)
    cells = run_sweep(points, base, grid, jobs=args.jobs)
    if args.output:
        write_csv(cells, grid, Path(args.output))
    if args.heatmap:
        heatmap(cells, grid, symbol, Path(args.heatmap))
    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    console.print(table(cells, grid, title=f"sweep {symbol}: {len(cells)} combinations, "
                                           f"{len(points)} prices"))
    best = max(cells, key=lambda c: c.pnl)
    console.print("best: " + " ".join(f"{k}={v}" for k, v in best.values) + f" pnl {best.pnl}")
    return 0


def write_csv(cells: list[Cell], grid: Grid, path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*grid, *FIGURES])
        for cell in cells:
            writer.writerow([*(str(v) for _, v in cell.values),
                             *(str(getattr(cell, name)) for name in FIGURES)])


def table(cells: list[Cell], grid: Grid, *, title: str) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for name in (*grid, "pnl", "trades", "orders", "stop moves", "max drawdown", "in market %"):
        t.add_column(name, justify="right")
    for cell in cells:
        t.add_row(*(str(v) for _, v in cell.values), format(cell.pnl, ".2f"), str(cell.trades),
                  str(cell.orders), str(cell.stop_moves), format(cell.max_drawdown, ".2f"),
                  str(cell.time_in_market_pct))
    return t


def heatmap(cells: list[Cell], grid: Grid, symbol: str, path: Path) -> None:
    """P&L over the first two axes (rows: the first, columns: the second). Floats: display."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm
    except ImportError:
        raise InputError("--heatmap needs matplotlib: pip install 'ratchet[plot]'") from None
    keys = list(grid)
    rows_key = keys[0]
    cols_key = keys[1] if len(keys) > 1 else None
    rows = grid[rows_key]
    cols = grid[cols_key] if cols_key else (Decimal(0),)
    best: dict[tuple[Decimal, Decimal], Decimal] = {}
    for cell in cells:
        at = (cell.value(rows_key), cell.value(cols_key) if cols_key else Decimal(0))
        best[at] = max(best.get(at, cell.pnl), cell.pnl)
    values = [[float(best[(r, c)]) for c in cols] for r in rows]  # display
    low, high = min(map(min, values)), max(map(max, values))
    norm = TwoSlopeNorm(vcenter=0.0, vmin=min(low, -1e-9), vmax=max(high, 1e-9))  # display
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(cols) + 2), max(3.0, 0.7 * len(rows) + 2)))
    image = ax.imshow(values, cmap="RdYlGn", norm=norm, aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols] if cols_key else [""])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(cols_key or "")
    ax.set_ylabel(rows_key)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    others = keys[2:]
    ax.set_title(f"{symbol}: P&L" + (f" (best over {', '.join(others)})" if others else ""))
    fig.colorbar(image, ax=ax, label="P&L (quote asset)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
