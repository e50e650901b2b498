"""Failures that make no noise (issue 25), through a TCP proxy between the engine and the sim:
a user-data stream that stays connected but says nothing while a stop is canceled on the venue
is caught by the REST audit, counted, shown on ``/healthz``, and the position protected again;
a cut stream falls back to REST at once, not after the dead socket's close times out."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.live import metric, unprotected
from tests.sim_engine.proxy import Proxy
from tests.sim_engine.story import DEFAULTS, drive

A = "AAAUSDT"
AUDIT_S = 3


def healthz(config) -> int:
    import tomllib

    port = tomllib.loads(config.read_text())["engine"]["metrics_port"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def user_stream_through(proxy: Proxy, sim) -> bool:
    """The engine's user-data stream is connected, through the proxy, and subscribed."""
    return proxy.count("user") >= 1 and sim.info()["ws"]["user"] >= 1


def behind_a_proxy(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", A, *h.UNLIMITED)
    sim.pause()
    proxy = Proxy(int(sim.url.rsplit(":", 1)[1])).start()
    config = h.write_config(sim_dir, proxy.url, [A], defaults=DEFAULTS,
                            exchange={"audit_s": f'"{AUDIT_S}"'})
    return sim, proxy, config, sim_dir / "ratchet.db"


def test_a_silent_user_stream_is_caught_by_the_audit_and_the_stop_placed_again(sim_dir):
    sim, proxy, config, db = behind_a_proxy(sim_dir)
    try:
        proc = h.start_engine(config)
        try:
            held = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]), what="protected")[A]
            engine.wait_for(lambda: user_stream_through(proxy, sim), what="the user stream up")
            assert proxy.silence("user") == 1
            time.sleep(AUDIT_S + 0.5)  # silent longer than an audit period
            sim.control("POST", "/sim/cancel", {"symbol": A,
                                                "origClientOrderId": held.stop_order_id})
            canceled_at = time.monotonic()
            seen_503 = engine.wait_for(lambda: healthz(config) == 503, timeout=AUDIT_S + 10,
                                       what="/healthz 503 while the stream is judged stale")
            again = drive(sim, {A: "100"}, lambda: (p := h.protected(db, sim, [A]))
                          and p[A].stop_order_id != held.stop_order_id and p[A],
                          timeout=AUDIT_S + 15, what="protected again")
            noticed_s = time.monotonic() - canceled_at
            missed = metric(config, "ratchet_stream_missed_events_total")
            engine.wait_for(lambda: unprotected(config, A) == 0 and healthz(config) == 200,
                            timeout=15, what="healthy again")
        finally:
            out = h.stop_engine(proc)
    finally:
        proxy.stop()
        sim.stop()

    assert not h.traceback_in(out), out
    assert seen_503 and missed is not None and missed >= 1
    assert again.position_id == held.position_id
    assert noticed_s < AUDIT_S + 15


def test_a_cut_user_stream_falls_back_to_rest_at_once(sim_dir):
    sim, proxy, config, db = behind_a_proxy(sim_dir)
    try:
        proc = h.start_engine(config)
        try:
            held = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]), what="protected")[A]
            engine.wait_for(lambda: user_stream_through(proxy, sim), what="the user stream up")
            sim.control("POST", "/sim/cancel", {"symbol": A,
                                                "origClientOrderId": held.stop_order_id})
            assert proxy.cut("user") >= 1  # the cancel's event may be lost with it
            cut_at = time.monotonic()
            again = drive(sim, {A: "100"}, lambda: (p := h.protected(db, sim, [A]))
                          and p[A].stop_order_id != held.stop_order_id and p[A],
                          timeout=30, what="protected again")
            protected_s = time.monotonic() - cut_at
        finally:
            out = h.stop_engine(proc)
    finally:
        proxy.stop()
        sim.stop()

    assert not h.traceback_in(out), out
    assert again.position_id == held.position_id
    assert protected_s < 8  # not the dead socket's 10 s close, then a poll
