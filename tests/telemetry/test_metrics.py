"""The §7 metrics: names, types, labels, values, bounded labels, and serving over HTTP."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from decimal import Decimal
from importlib import metadata

import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.metrics import MAX_LABEL_VALUES, Metrics

#: DESIGN.md §7 (and the extras of the alert rules): family name -> (type, label names).
#: Counters are named without ``_total`` here, as the parser names their families.
EXPECTED = {
    "ratchet_price": ("gauge", {"symbol"}),
    "ratchet_highest_price": ("gauge", {"symbol"}),
    "ratchet_stop_price": ("gauge", {"symbol"}),
    "ratchet_position_quantity": ("gauge", {"symbol"}),
    "ratchet_unrealized_pnl": ("gauge", {"symbol", "quote"}),
    "ratchet_realized_pnl": ("gauge", {"symbol", "quote"}),
    "ratchet_stop_moves": ("counter", {"symbol"}),
    "ratchet_pair_up": ("gauge", {"symbol"}),
    "ratchet_orders": ("counter", {"symbol", "type", "result"}),
    "ratchet_exchange_errors": ("counter", {"code"}),
    "ratchet_exchange_request_seconds": ("histogram", {"endpoint"}),
    "ratchet_db_commit_seconds": ("histogram", set()),
    "ratchet_db_batch_size": ("histogram", set()),
    "ratchet_tick_to_decision_seconds": ("histogram", set()),
    "ratchet_db_queue_depth": ("gauge", set()),
    "ratchet_exchange_weight_used": ("gauge", set()),
    "ratchet_exchange_banned": ("gauge", set()),
    "ratchet_unprotected_positions": ("gauge", set()),
    "ratchet_actor_restarts": ("counter", {"actor"}),
    "ratchet_reconcile_actions": ("counter", {"action"}),
    "ratchet_reconcile_duration_seconds": ("gauge", set()),
    "ratchet_build_info": ("gauge", {"version", "python"}),
    # extras for the alert rules
    "ratchet_pair_halted": ("gauge", {"symbol"}),
    "ratchet_feed_last_tick_timestamp_seconds": ("gauge", {"symbol"}),
    "ratchet_reconcile_failures": ("counter", set()),
    "ratchet_db_failures": ("counter", set()),
}
BOUNDED_LABELS = {"symbol", "quote", "type", "result", "code", "endpoint", "actor", "action",
                  "le", "version", "python"}


def _families(metrics: Metrics) -> dict:
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise KeyError(f"{name}{labels} not exposed")


def _label_values(metrics: Metrics, family: str, label: str) -> set[str]:
    return {s.labels[label] for s in _families(metrics)[family].samples if label in s.labels}


def _exercise(metrics: Metrics) -> None:
    """One update of every kind, with a price and a client id that must never become labels."""
    pair = metrics.pair("BTCUSDT")
    pair.quote_asset("USDT")
    pair.up(True)
    pair.tick(Decimal("46319.57"), Decimal("46400.01"), Decimal("45000.13"),
              Decimal("0.00215"), Decimal("-1.25"))
    pair.realized(Decimal("12.5"))
    pair.stop_moved()
    pair.order("STOP_LOSS_LIMIT", "accepted")
    pair.decision_latency(0.00004)
    pair.feed_tick()
    pair.unprotected(False)
    metrics.exchange_request("order", 0.0008)
    metrics.exchange_error(-2010)
    metrics.weight_used(120)
    metrics.banned(False)
    metrics.db_commit(0.0004, 7)
    metrics.db_queue_depth(3)
    metrics.db_failure()
    metrics.actor_restart("pair")
    metrics.reconcile({"keep": 2, "replace_stop": 1}, 0.25)
    metrics.reconcile_failed()
    metrics.halted("ETHUSDT", True)


def test_every_metric_has_its_type_and_labels_after_updates():
    metrics = Metrics()
    _exercise(metrics)

    families = _families(metrics)

    for name, (kind, labels) in EXPECTED.items():
        assert name in families, name
        assert families[name].type == kind, name
        sample_labels = {k for s in families[name].samples for k in s.labels} - {"le"}
        assert sample_labels == labels, name


def test_tick_values_are_exposed_in_base_units():
    metrics = Metrics()
    _exercise(metrics)

    assert _value(metrics, "ratchet_price", symbol="BTCUSDT") == 46319.57
    assert _value(metrics, "ratchet_highest_price", symbol="BTCUSDT") == 46400.01
    assert _value(metrics, "ratchet_stop_price", symbol="BTCUSDT") == 45000.13
    assert _value(metrics, "ratchet_position_quantity", symbol="BTCUSDT") == 0.00215
    assert _value(metrics, "ratchet_unrealized_pnl", symbol="BTCUSDT", quote="USDT") == -1.25
    assert _value(metrics, "ratchet_realized_pnl", symbol="BTCUSDT", quote="USDT") == 12.5
    assert _value(metrics, "ratchet_stop_moves_total", symbol="BTCUSDT") == 1
    assert _value(metrics, "ratchet_orders_total", symbol="BTCUSDT", type="STOP_LOSS_LIMIT",
                  result="accepted") == 1
    assert _value(metrics, "ratchet_db_batch_size_sum") == 7
    assert _value(metrics, "ratchet_reconcile_actions_total", action="keep") == 2
    assert _value(metrics, "ratchet_reconcile_duration_seconds") == 0.25


def test_a_new_pair_exposes_its_series_before_its_first_tick():
    metrics = Metrics()

    metrics.pair("SOLUSDT")

    assert math.isnan(_value(metrics, "ratchet_stop_price", symbol="SOLUSDT"))
    assert _value(metrics, "ratchet_position_quantity", symbol="SOLUSDT") == 0
    assert _value(metrics, "ratchet_stop_moves_total", symbol="SOLUSDT") == 0
    assert _value(metrics, "ratchet_pair_up", symbol="SOLUSDT") == 0
    assert _value(metrics, "ratchet_pair_halted", symbol="SOLUSDT") == 0
    assert _value(metrics, "ratchet_feed_last_tick_timestamp_seconds", symbol="SOLUSDT") > 0


def test_unprotected_positions_counts_the_pairs_flagged_unprotected():
    metrics = Metrics()
    for symbol in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
        metrics.pair(symbol).unprotected(True)
    metrics.pair("BBBUSDT").unprotected(False)

    before_removal = _value(metrics, "ratchet_unprotected_positions")
    metrics.remove_pair("CCCUSDT")

    assert before_removal == 2
    assert _value(metrics, "ratchet_unprotected_positions") == 1


def test_counters_read_by_increase_are_exposed_at_zero_before_their_first_event():
    metrics = Metrics()

    metrics.reconcile({"keep": 0, "cancel_orphan": 0}, 0.01)

    assert _value(metrics, "ratchet_actor_restarts_total", actor="pair") == 0
    assert _value(metrics, "ratchet_reconcile_actions_total", action="keep") == 0
    assert _value(metrics, "ratchet_reconcile_actions_total", action="cancel_orphan") == 0


def test_a_flat_pair_shows_no_highest_or_stop_and_zero_quantity():
    metrics = Metrics()
    pair = metrics.pair("BTCUSDT")
    pair.quote_asset("USDT")
    pair.tick(Decimal("1"), Decimal("2"), Decimal("0.5"), Decimal("3"), Decimal("1"))

    pair.tick(Decimal("46000"), None, None, None, None)

    assert _value(metrics, "ratchet_price", symbol="BTCUSDT") == 46000
    assert math.isnan(_value(metrics, "ratchet_highest_price", symbol="BTCUSDT"))
    assert math.isnan(_value(metrics, "ratchet_stop_price", symbol="BTCUSDT"))
    assert _value(metrics, "ratchet_position_quantity", symbol="BTCUSDT") == 0
    assert _value(metrics, "ratchet_unrealized_pnl", symbol="BTCUSDT", quote="USDT") == 0


def test_pair_metrics_are_cached_per_symbol():
    metrics = Metrics()

    assert metrics.pair("BTCUSDT") is metrics.pair("BTCUSDT")
    assert metrics.pair("BTCUSDT") is not metrics.pair("ETHUSDT")


def test_a_halted_pair_is_down_and_flagged():
    metrics = Metrics()
    metrics.pair("BTCUSDT").up(True)

    metrics.halted("BTCUSDT", True)

    assert _value(metrics, "ratchet_pair_halted", symbol="BTCUSDT") == 1
    assert _value(metrics, "ratchet_pair_up", symbol="BTCUSDT") == 0


def test_sub_millisecond_latencies_land_in_their_own_buckets():
    metrics = Metrics()

    metrics.pair("BTCUSDT").decision_latency(0.00004)
    metrics.db_commit(0.0003, 1)

    assert _value(metrics, "ratchet_tick_to_decision_seconds_bucket", le="2.5e-05") == 0
    assert _value(metrics, "ratchet_tick_to_decision_seconds_bucket", le="5e-05") == 1
    assert _value(metrics, "ratchet_db_commit_seconds_bucket", le="0.00025") == 0
    assert _value(metrics, "ratchet_db_commit_seconds_bucket", le="0.0005") == 1


def test_tick_to_decision_sums_every_pair_and_never_decreases_when_one_is_removed():
    metrics = Metrics()
    metrics.pair("BTCUSDT").decision_latency(0.0001)
    metrics.pair("ETHUSDT").decision_latency(0.002)

    metrics.remove_pair("BTCUSDT")

    assert _value(metrics, "ratchet_tick_to_decision_seconds_count") == 2
    assert _value(metrics, "ratchet_tick_to_decision_seconds_sum") == pytest.approx(0.0021)


def test_removing_a_pair_drops_every_series_of_that_symbol_only():
    metrics = Metrics()
    _exercise(metrics)
    metrics.pair("ETHUSDT").order("MARKET", "filled")

    metrics.remove_pair("BTCUSDT")

    symbols = {s.labels.get("symbol") for f in _families(metrics).values() for s in f.samples}
    assert "BTCUSDT" not in symbols
    assert "ETHUSDT" in symbols


def test_labels_stay_bounded_when_callers_pass_many_distinct_values():
    metrics = Metrics()

    for i in range(1000):
        metrics.exchange_request(f"endpoint-{i}", 0.001)
        metrics.exchange_error(i)
    metrics.actor_restart("x" * 200)

    assert len(_label_values(metrics, "ratchet_exchange_request_seconds", "endpoint")) \
        == MAX_LABEL_VALUES + 1
    assert "other" in _label_values(metrics, "ratchet_exchange_errors", "code")
    assert _label_values(metrics, "ratchet_actor_restarts", "actor") == {
        "pair", "gateway", "other"}


def test_no_label_carries_a_price_or_an_order_id():
    metrics = Metrics()
    _exercise(metrics)

    labels = {(k, v) for f in _families(metrics).values() for s in f.samples
              for k, v in s.labels.items()}

    assert {k for k, _ in labels} <= BOUNDED_LABELS
    values = {v for _, v in labels}
    assert not values & {"46319.57", "46400.01", "45000.13", "0.00215"}


def test_a_secret_from_the_environment_never_appears(monkeypatch):
    secret = "s3cr3t-Api-Key-0123456789abcdef"
    monkeypatch.setenv("RATCHET_API_SECRET", secret)
    metrics = Metrics()
    _exercise(metrics)

    metrics.exchange_request(secret, 0.001)
    metrics.exchange_error(secret)
    metrics.actor_restart(secret)
    metrics.pair("BTCUSDT").order(secret, secret)

    text = metrics.render().decode()
    assert secret not in text
    assert "redacted" in _label_values(metrics, "ratchet_exchange_request_seconds", "endpoint")


def test_each_instance_has_its_own_registry():
    first, second = Metrics(), Metrics()

    first.pair("BTCUSDT").stop_moved()

    assert _value(first, "ratchet_stop_moves_total", symbol="BTCUSDT") == 1
    with pytest.raises(KeyError):
        _value(second, "ratchet_stop_moves_total", symbol="BTCUSDT")


def test_build_info_carries_the_installed_version():
    metrics = Metrics()

    (sample,) = _families(metrics)["ratchet_build_info"].samples

    # the package's version as pip installed it from setup.cfg (which reads core.__version__)
    assert sample.labels["version"] == metadata.version("ratchet")
    assert sample.value == 1


def test_serving_on_port_zero_exposes_the_metrics_over_http():
    metrics = Metrics()
    _exercise(metrics)
    metrics.serve("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{metrics.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
            content_type = response.headers["Content-Type"]
    finally:
        metrics.stop()

    assert metrics.port > 0
    assert content_type.startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(body)}
    assert set(EXPECTED) <= names
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_serving_twice_is_refused_but_serving_again_after_stop_works():
    metrics = Metrics()
    metrics.serve("127.0.0.1", 0)
    try:
        with pytest.raises(RuntimeError):
            metrics.serve("127.0.0.1", 0)
    finally:
        metrics.stop()
    metrics.stop()

    metrics.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics.port}/metrics",
                                    timeout=5) as response:
            status = response.status
    finally:
        metrics.stop()

    assert status == 200
