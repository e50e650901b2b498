"""The replay plot a trader can read, read back through matplotlib: two panels sharing a date
axis; above, the price and the live stop as a step line, entries and exits as different
markers with entries drawn over exits; below, the cumulative realized P&L in the quote asset,
ending at the report's total; the title carries the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from actors.replay import run_replay  # noqa: E402
from cli.replay_cmd import figure  # noqa: E402
from core.prices import read_prices  # noqa: E402
from core.types import PairSettings  # noqa: E402
from tests.conftest import btc_lines  # noqa: E402


def test_the_plot_has_a_date_axis_two_panels_and_the_settings(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(1500))
    points = read_prices(prices)
    settings = PairSettings(symbol="BTCUSDT", trail_pct=Decimal("1"),
                            min_move_pct=Decimal("0.1"))
    result = run_replay(points, settings, record_stops=True)
    assert len(result.trades) >= 2, "the slice must hold a few trades"

    fig = figure(points, result, settings)
    try:
        price_ax, pnl_ax = fig.axes
        # Dates on the shared x axis, spanning the data.
        assert isinstance(pnl_ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
        start, end = (mdates.num2date(x) for x in pnl_ax.get_xlim())
        first = datetime.fromtimestamp(float(points[0].ts), tz=UTC)  # display
        last = datetime.fromtimestamp(float(points[-1].ts), tz=UTC)  # display
        assert start <= first and end >= last and (end - start).days < 30
        assert price_ax.get_shared_x_axes().joined(price_ax, pnl_ax)
        labels = {line.get_label(): line for line in price_ax.get_lines()}
        assert {"price", "stop"} <= set(labels)
        assert labels["stop"].get_drawstyle() == "steps-post"
        scatters = {c.get_label(): c for c in price_ax.collections}
        entry, exit_ = scatters["entry"], scatters["exit"]
        assert entry.get_zorder() > exit_.get_zorder()  # entries drawn over exits
        assert len(entry.get_offsets()) == len(result.trades)
        assert (exit_.get_facecolors().size == 0  # hollow exits, filled entries
                or exit_.get_facecolors()[0][3] == 0)
        assert entry.get_facecolors()[0][3] > 0
        assert price_ax.get_ylabel() == "price (USDT)"
        assert pnl_ax.get_ylabel() == "cumulative P&L (USDT)"
        (pnl_line,) = pnl_ax.get_lines()[:1]
        total = sum(Decimal(t["pnl"]) for t in result.trades)
        assert abs(pnl_line.get_ydata()[-1] - float(total)) < 1e-6  # display
        title = price_ax.get_title()
        assert title.startswith("BTCUSDT replay: trail 1%, min move 0.1%, limit offset 0.5%")
        assert f"{len(result.trades)} trades" in title and "USDT" in title
        fig.savefig(tmp_path / "plot.png")
        assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        plt.close(fig)
