"""The Gateway reads balances for pairs that adopt coins (``entry = "adopt"``): once when such
a pair registers, then every ``adopt_scan_s``, one ``balances()`` call for all of them; and it
passes on the venue's own balance updates by base asset. Pairs that do not adopt hear nothing."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from actors.conflation import TickSlot
from actors.gateway import Gateway
from actors.messages import BalanceSeen, BalancesUpdated, Maintain, RegisterPair
from core.types import Balance, PairSettings
from exchange.paper import PaperExchange
from tests.actors.test_gateway import Probe

SETTINGS = {s: PairSettings(symbol=s) for s in ("BTCUSDT", "ETHUSDT")}


class CountingPaper(PaperExchange):
    """The paper venue, counting ``balances()`` calls."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.reads = 0

    def balances(self):
        self.reads += 1
        return super().balances()


@pytest.fixture
def venue(tmp_path):
    exchange = CountingPaper(tmp_path / "paper.db", settings=SETTINGS,
                             balances={"BTC": D("0.05"), "ETH": D("2")})
    yield exchange
    exchange.close()


def heard(probe) -> list[BalanceSeen]:
    return [m for _, m in probe.ask("heard", timeout=5) if isinstance(m, BalanceSeen)]


def wait_heard(probe, n: int, timeout: float = 5) -> list[BalanceSeen]:
    deadline = time.monotonic() + timeout
    while len(seen := heard(probe)) < n:
        assert time.monotonic() < deadline, f"heard {seen}"
        time.sleep(0.05)
    return seen


def test_an_adopting_pair_hears_its_base_balance_at_once_and_every_scan(venue):
    gateway = Gateway.start(venue)
    btc, eth, other = Probe.start(), Probe.start(), Probe.start()
    gateway.tell(RegisterPair(symbol="BTCUSDT", pair=btc, slot=TickSlot("BTCUSDT"),
                              base_asset="BTC", scan_s=0.5))
    gateway.tell(RegisterPair(symbol="ETHUSDT", pair=eth, slot=TickSlot("ETHUSDT"),
                              base_asset="ETH", scan_s=30))
    gateway.tell(RegisterPair(symbol="SOLUSDT", pair=other, slot=TickSlot("SOLUSDT")))

    first = wait_heard(btc, 1, timeout=3)[0]
    time.sleep(1.6)  # a scan every 0.5 s (the shortest), checked by the upkeep once a second
    scans = len(heard(btc))
    reads = venue.reads

    assert (first.asset, first.free, first.locked) == ("BTC", D("0.05"), D(0))
    assert 2 <= scans <= 3
    assert heard(eth)[0].free == D(2) and len(heard(eth)) >= scans
    assert heard(other) == []
    assert reads in (scans, scans + 1)  # one account read per scan for every adopting pair


def test_balance_updates_from_the_venue_are_routed_by_base_asset(venue):
    gateway = Gateway.start(venue)
    btc, eth = Probe.start(), Probe.start()
    for symbol, probe, base in (("BTCUSDT", btc, "BTC"), ("ETHUSDT", eth, "ETH")):
        gateway.tell(RegisterPair(symbol=symbol, pair=probe, slot=TickSlot(symbol),
                                  base_asset=base, scan_s=3600))
    wait_heard(btc, 1)
    wait_heard(eth, 1)

    gateway.tell(BalancesUpdated(balances=(Balance(asset="ETH", free=D("3"), locked=D(1)),
                                           Balance(asset="USDT", free=D(5)))))
    update = wait_heard(eth, 2)[-1]

    assert (update.asset, update.free, update.locked) == ("ETH", D(3), D(1))
    assert len(heard(btc)) == 1  # BTC did not change: nothing for the BTC pair


def test_an_asset_the_account_does_not_hold_reads_as_zero(venue):
    gateway = Gateway.start(venue)
    probe = Probe.start()
    gateway.tell(RegisterPair(symbol="SOLUSDT", pair=probe, slot=TickSlot("SOLUSDT"),
                              base_asset="SOL", scan_s=3600))
    gateway.tell(Maintain())

    (seen,) = wait_heard(probe, 1)

    assert (seen.asset, seen.free) == ("SOL", D(0))
