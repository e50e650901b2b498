"""The first run's plan is a pure function of the settings, the filters, the last price, the
balances and the DB's open positions: a position kept, coins adopted under the §3 stop an entry
at that price gets, a buy and its stop, a buy that waits for funds (earlier pairs spend
first), and each reason for doing nothing."""

from __future__ import annotations

from decimal import Decimal as D

from cli.plan import ADOPT, BUY, KEEP, NOTHING, WAIT, PairInputs, plan_lines, render
from core.types import EntryMode, PairSettings, Position, PositionState, StopMode, SymbolFilters

BTC = SymbolFilters(symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", tick=D("0.01"),
                    step=D("0.00001"), min_notional=D("5"))
ETH = SymbolFilters(symbol="ETHUSDT", base_asset="ETH", quote_asset="USDT", tick=D("0.01"),
                    step=D("0.0001"), min_notional=D("5"))


def pair(symbol="BTCUSDT", **kw) -> PairSettings:
    return PairSettings(symbol=symbol, trail_pct=D("2"), **kw)


def test_each_kind_of_line():
    held = Position(position_id="p1", symbol="ETHUSDT", state=PositionState.OPEN,
                    qty=D("0.5"), entry_price=D("3000"), highest=D("3100"), stop=D("3038"),
                    quote_asset="USDT")
    lines = plan_lines([
        PairInputs(settings=pair(), filters=BTC, price=D("50000")),
        PairInputs(settings=pair("ETHUSDT"), filters=None, price=None, position=held),
        PairInputs(settings=pair("ETHUSDT", entry=EntryMode.ADOPT, keep_qty=D("0.1")),
                   filters=ETH, price=D("3000"), free_base=D("0.5")),
        PairInputs(settings=pair(quote_per_trade=D("100")), filters=BTC, price=D("50000")),
        PairInputs(settings=pair("XUSDT"), filters=None, price=D("1")),
        PairInputs(settings=pair(entry=EntryMode.NONE), filters=BTC, price=D("50000")),
    ], {"USDT": D("150")})

    assert [line.action for line in lines] == [BUY, KEEP, ADOPT, WAIT, NOTHING, NOTHING]
    # 100 USDT at 50,000: 0.002 BTC; the stop 2 % under 50,000, its limit 0.5 % lower.
    assert lines[0].text == ("buy about 0.00200 BTC for 100.00 USDT at market (last 50000.00), "
                             "then a stop at 49000.00, limit 48755.00")
    assert lines[1].text.startswith("keep the open position of 0.5 under its stop at 3038")
    assert lines[2].text.startswith("adopt 0.4000 ETH (of 0.5000 ETH free, worth 1200.00 USDT) "
                                    "with a stop at 2940.00, limit 2925.30")
    assert lines[3].text.startswith("waits for funds: a buy needs 100.00 USDT, 50.00 USDT free")
    assert "does not list" in lines[4].text and 'entry = "none"' in lines[5].text
    assert render(lines).splitlines()[-1] == (
        "  in all: 1 kept, 1 adopted, 1 bought (100 USDT), 1 waiting for funds, 2 doing nothing")


def test_nothing_to_adopt_below_notional_and_a_native_stop_outside_its_filter():
    lines = plan_lines([
        PairInputs(settings=pair("ETHUSDT", entry=EntryMode.ADOPT), filters=ETH,
                   price=D("3000"), free_base=D("0.001")),
        PairInputs(settings=PairSettings(symbol="BTCUSDT", trail_pct=D("25"),
                                         stop_mode=StopMode.NATIVE), filters=BTC,
                   price=D("50000")),
        PairInputs(settings=pair(stop_mode=StopMode.AUTO), filters=BTC, price=D("50000")),
    ], {"USDT": D("1000")})

    assert lines[0].action == NOTHING and "worth less than NOTIONAL 5.00 USDT" in lines[0].text
    assert lines[1].action == NOTHING and 'stop_mode = "native" is not possible' in lines[1].text
    assert "native trailing stop, trailingDelta 200 (level about 49000.00" in lines[2].text


def test_a_long_plan_is_cut_for_run_and_counted():
    inputs = [PairInputs(settings=pair(f"A{i}USDT"), filters=None, price=None)
              for i in range(25)]

    text = render(plan_lines(inputs, {}), limit=20)

    assert text.count("does not list") == 20 and "... and 5 more pairs" in text
