"""The running engine feeds the metrics that say whether a position is safe: a real Supervisor,
PairActors, Gateway and DBWriter over the paper venue, with one ``Metrics`` read as text."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.messages import Boot, GetSnapshot, Shutdown
from actors.supervisor import Supervisor
from core.config import load_config
from core.errors import OrderRejected
from core.types import PositionState
from exchange.paper import PaperExchange
from telemetry.metrics import Metrics
from tests.integration import engine


class StopRejectingPaper(PaperExchange):
    """The paper venue, except that it refuses every stop order (-2010)."""

    def place_stop_limit(self, **order):
        raise OrderRejected("Account has insufficient balance for requested action.",
                            code=-2010)


class EntryRejectingPaper(PaperExchange):
    """The paper venue, except that it refuses every buy by a filter (-1013): entries halt."""

    def market_order(self, **order):
        raise OrderRejected("Filter failure: NOTIONAL", code=-1013)


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@pytest.fixture
def boot(tmp_path):
    """``boot(venue_class)`` starts the engine on one pair; everything stops afterwards."""
    started = []

    def start(venue_class=PaperExchange):
        config = engine.write_config(tmp_path, {"AAAUSDT": {}}, defaults='trail_pct = "5"',
                                     feed='volatility_pct = "0.02"')
        cfg = load_config(config)
        venue = venue_class(cfg.engine.paper_state_path,
                            settings={p.symbol: p for p in cfg.pairs})
        metrics = Metrics()
        sup = Supervisor.start(config=cfg, exchange=venue, metrics=metrics)
        started.append((sup, venue))
        sup.ask(Boot(), timeout=30)
        return metrics, sup

    yield start
    for sup, venue in started:
        sup.ask(Shutdown(), timeout=30)
        venue.close()


def _stop_is_live(sup, symbol: str) -> bool:
    snap = sup.ask(GetSnapshot(), timeout=10)[symbol]
    position = snap["position"]
    return position.state is PositionState.OPEN and any(
        o.client_order_id == position.stop_order_id and o.state.is_open
        for o in snap["orders"].values())


def test_a_position_whose_stop_is_live_is_not_counted_unprotected(boot):
    metrics, sup = boot()

    engine.wait_for(lambda: _stop_is_live(sup, "AAAUSDT"), timeout=20,
                    what="an open position with a live stop")

    assert _value(metrics, "ratchet_position_quantity", symbol="AAAUSDT") > 0
    assert _value(metrics, "ratchet_unprotected_positions") == 0
    assert _value(metrics, "ratchet_orders_total", symbol="AAAUSDT", type="STOP_LOSS_LIMIT",
                  result="accepted") == 1


def test_a_position_whose_stop_was_rejected_is_counted_unprotected(boot):
    metrics, _ = boot(StopRejectingPaper)

    engine.wait_for(lambda: _value(metrics, "ratchet_unprotected_positions") == 1,
                    timeout=20, what="the position counted unprotected")

    assert _value(metrics, "ratchet_position_quantity", symbol="AAAUSDT") > 0


def test_a_pair_that_halts_its_entries_is_exposed_as_halted_and_down(boot):
    metrics, _ = boot(EntryRejectingPaper)

    engine.wait_for(lambda: _value(metrics, "ratchet_pair_halted", symbol="AAAUSDT") == 1,
                    timeout=20, what="the pair exposed as halted")

    assert _value(metrics, "ratchet_pair_up", symbol="AAAUSDT") == 0
