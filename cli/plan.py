"""The first run's plan: what ``ratchet run`` will do, pair by pair, with what the account
holds now. ``ratchet preflight`` prints it, and ``ratchet run`` in binance mode prints it before
it trades. Nothing here reads a venue or a DB: the plan is a pure function of its inputs
(``PairInputs``), so the two commands and the tests see the same plan.

For each pair, the first that applies:
- the symbol is not listed: nothing (boot refuses the config);
- the DB holds an open position: kept, under the stop reconciliation checks first;
- ``entry = "none"``: nothing; ``stop_mode = "native"`` outside the symbol's TRAILING_DELTA:
  nothing (boot refuses);
- ``entry = "adopt"``: ``floor_step(free − keep_qty)`` of the base asset, if it is worth
  NOTIONAL at the last price, goes under a stop at ``levels_at(price)`` (§3: the stop an entry
  at that price gets, its limit clamped as the venue would, ``fit_stop``); else nothing;
- ``entry = "always"``: a market buy of ``quote_per_trade`` (``entry_quantity``), then that
  stop; a buy the free quote balance cannot pay waits for funds (earlier pairs spend first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from cli.numbers import SymbolFormat
from core.adopt import adoptable
from core.errors import BelowMinNotional, ConfigError
from core.stop_mode import choose, native_problem
from core.stop_rules import fit_stop
from core.trailing import entry_quantity, levels_at
from core.types import EntryMode, PairSettings, Position, StopMode, SymbolFilters

#: Pairs ``ratchet run`` prints before trading; the rest is counted (preflight lists all).
RUN_LINES = 20
KEEP, ADOPT, BUY, WAIT, NOTHING = "keep", "adopt", "buy", "wait", "nothing"


@dataclass(frozen=True, slots=True, kw_only=True)
class PairInputs:
    """What the plan of one pair depends on. ``filters`` None: the venue does not list the
    symbol; ``price`` None: no price yet; ``position``: the DB's open position, if any."""

    settings: PairSettings
    filters: SymbolFilters | None
    price: Decimal | None
    free_base: Decimal = Decimal(0)
    position: Position | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLine:
    symbol: str
    action: str  # keep, adopt, buy, wait, nothing
    text: str
    spend: Decimal = Decimal(0)  # quote the action spends (a buy)
    quote: str = ""


def plan_lines(inputs: Sequence[PairInputs],
               free_quote: Mapping[str, Decimal]) -> list[PlanLine]:
    """The plan of every pair, in order; ``free_quote``: the free balance of each quote asset,
    which the buys spend in turn."""
    left = dict(free_quote)
    lines = []
    for pair in inputs:
        line = plan_pair(pair)
        if line.action == BUY:
            have = left.get(line.quote, Decimal(0))
            if have < line.spend:
                number = _format(pair.filters)
                line = PlanLine(symbol=line.symbol, action=WAIT, quote=line.quote,
                                text=f"waits for funds: a buy needs {number.money(line.spend)}, "
                                     f"{number.money(have)} free is left for it (the entry "
                                     "retries with backoff)")
            else:
                left[line.quote] = have - line.spend
        lines.append(line)
    return lines


def plan_pair(pair: PairInputs) -> PlanLine:
    s, f, price = pair.settings, pair.filters, pair.price
    symbol = s.symbol
    p = pair.position
    if p is not None:  # the filters may not be read: a restart needs none for this line
        number = _format(f) if f is not None else SymbolFormat(quote=p.quote_asset or "")
        base = f.base_asset if f is not None else ""
        stop = f" under its stop at {number.price(p.stop)}" if p.stop is not None else ""
        return PlanLine(symbol=symbol, action=KEEP, quote=number.quote,
                        text=f"keep the open position of {number.qty(p.qty)} {base}".rstrip()
                             + f"{stop} (reconciliation checks it with the venue first)")
    if f is None:
        return PlanLine(symbol=symbol, action=NOTHING,
                        text="nothing: the venue does not list this symbol (boot refuses it)")
    number = _format(f)
    if s.entry is EntryMode.NONE:
        return PlanLine(symbol=symbol, action=NOTHING, quote=f.quote_asset,
                        text='nothing: entry = "none" (no buy, no adoption)')
    if s.stop_mode is StopMode.NATIVE and native_problem(s, f) is not None:
        return PlanLine(symbol=symbol, action=NOTHING, quote=f.quote_asset,
                        text=f'nothing: stop_mode = "native" is not possible here '
                             f"({native_problem(s, f)}): boot refuses the config")
    if price is None:
        return PlanLine(symbol=symbol, action=NOTHING, quote=f.quote_asset,
                        text="nothing yet: no price for the symbol")
    if s.entry is EntryMode.ADOPT:
        return _adopt(pair, f, price, number)
    try:
        qty = entry_quantity(price, s, f)
    except BelowMinNotional:
        return PlanLine(symbol=symbol, action=NOTHING, quote=f.quote_asset,
                        text=f"nothing: quote_per_trade {number.money(s.quote_per_trade)} at "
                             f"{number.price(price)} buys less than NOTIONAL "
                             f"{number.money(f.min_notional)} (the pair halts its entries)")
    stop = _stop_words(s, f, qty, price, number)
    return PlanLine(symbol=symbol, action=BUY, spend=s.quote_per_trade, quote=f.quote_asset,
                    text=f"buy about {number.qty(qty)} {f.base_asset} for "
                         f"{number.money(s.quote_per_trade)} at market (last "
                         f"{number.price(price)}), then {stop}")


def _adopt(pair: PairInputs, f: SymbolFilters, price: Decimal,
           number: SymbolFormat) -> PlanLine:
    s = pair.settings
    qty = adoptable(pair.free_base, price, s, f)
    held = f"{number.qty(pair.free_base)} {f.base_asset} free"
    if qty is None:
        keep = f", keep_qty {number.qty(s.keep_qty)}" if s.keep_qty else ""
        return PlanLine(symbol=s.symbol, action=NOTHING, quote=f.quote_asset,
                        text=f"nothing to adopt: {held}{keep}, worth less than NOTIONAL "
                             f"{number.money(f.min_notional)} at {number.price(price)}")
    fitted = fit_stop(levels_at(price, s, f.tick), qty, f, price)
    if fitted.problem is not None:
        return PlanLine(symbol=s.symbol, action=NOTHING, quote=f.quote_asset,
                        text=f"nothing: {held}, but its stop would break a filter "
                             f"({fitted.problem}): left alone")
    stop = _stop_words(s, f, qty, price, number)
    return PlanLine(symbol=s.symbol, action=ADOPT, quote=f.quote_asset,
                    text=f"adopt {number.qty(qty)} {f.base_asset} (of {held}, worth "
                         f"{number.money(qty * price)}) with {stop}")


def _stop_words(s: PairSettings, f: SymbolFilters, qty: Decimal, price: Decimal,
                number: SymbolFormat) -> str:
    """The stop the position gets at ``price``: its level and limit, native or not."""
    fitted = fit_stop(levels_at(price, s, f.tick), qty, f, price)
    levels = fitted.levels
    try:
        native = choose(s, f).delta
    except ConfigError:  # native outside the symbol's filter: preflight says so
        native = None
    if native is not None:
        words = (f"a native trailing stop, trailingDelta {native} (level about "
                 f"{number.price(levels.stop)}, limit {number.price(levels.limit)})")
    else:
        words = f"a stop at {number.price(levels.stop)}, limit {number.price(levels.limit)}"
    if fitted.problem is not None:
        words += f" (but it would break a filter: {fitted.problem})"
    return words


def _format(f: SymbolFilters | None) -> SymbolFormat:
    if f is None:
        return SymbolFormat()
    return SymbolFormat(tick=f.tick, step=f.step, quote=f.quote_asset)


def render(lines: Sequence[PlanLine], *, limit: int | None = None) -> str:
    """The plan as text: a heading, one line per pair (``limit``: at most that many, then a
    count of the rest), and what it adds up to."""
    shown = list(lines if limit is None else lines[:limit])
    width = max((len(line.symbol) for line in shown), default=0)
    out = ["the plan (what the first run will do; nothing has been sent):"]
    out += [f"  {line.symbol:<{width}}  {line.text}" for line in shown]
    if len(lines) > len(shown):
        out.append(f"  ... and {len(lines) - len(shown)} more pairs (ratchet preflight lists "
                   "every one)")
    counts = {a: sum(1 for line in lines if line.action == a)
              for a in (KEEP, ADOPT, BUY, WAIT, NOTHING)}
    spend: dict[str, Decimal] = {}
    for line in lines:
        if line.action == BUY:
            spend[line.quote] = spend.get(line.quote, Decimal(0)) + line.spend
    spent = ", ".join(f"{v} {q}" for q, v in sorted(spend.items()))
    out.append(f"  in all: {counts[KEEP]} kept, {counts[ADOPT]} adopted, {counts[BUY]} bought"
               + (f" ({spent})" if spent else "") + f", {counts[WAIT]} waiting for funds, "
               f"{counts[NOTHING]} doing nothing")
    return "\n".join(out)
