"""A 418 and a skewed clock, met by the running engine (binance mode, the sim, real HTTP):
a ban stops all sending until its Retry-After, then the refused move goes out again; a server
clock that jumped ahead gets one -1021, a clock resync, and the move succeeds."""

from __future__ import annotations

import time

import pytest

from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import DEFAULTS, drive, stops_at

SYMBOL = "AAAUSDT"
TIME = "GET /api/v3/time"


@pytest.fixture
def running(tmp_path):
    """The engine trading one symbol on a paused sim, its first stop placed at 95."""
    with h.fast_dir(tmp_path) as directory:
        sim = h.start_sim(directory, "--symbols", SYMBOL, *h.UNLIMITED)
        proc = None
        try:
            sim.pause()
            config = h.write_config(directory, sim.url, [SYMBOL], defaults=DEFAULTS)
            db = directory / "ratchet.db"
            proc = h.start_engine(config)
            drive(sim, {SYMBOL: "100"}, lambda: h.protected(db, sim, [SYMBOL]), what="entry")
            yield sim, db, proc
        finally:
            out = h.stop_engine(proc) if proc is not None else ""
            sim.stop()
        assert proc.returncode == 0 and not h.traceback_in(out), out[-3000:]


def test_418_stops_all_sending_until_retry_after_then_the_move_goes_out(running):
    sim, db, _ = running
    sim.force("418", retry_after_s=3)
    sim.reset_requests()

    sim.price(SYMBOL, "110")  # wants a move: the cancelReplace meets the 418
    engine.wait_for(lambda: sim.requests().get(h.REPLACE) == 1, what="the banned request")
    sim.price(SYMBOL, "120")  # wants another move while banned
    time.sleep(1.5)  # well inside the 3 s ban
    during_ban = sim.requests()
    moved = drive(sim, {SYMBOL: "120"}, lambda: stops_at(db, "114.00", [SYMBOL]),
                  what="the move after the ban")

    assert during_ban == {h.REPLACE: 1}  # nothing else was sent while banned
    # After the ban: the refused move again as it was (a 418 applies nothing), then the next.
    assert moved[SYMBOL].stop_moves == 2
    assert sim.requests()[h.REPLACE] == 3


def test_clock_skew_gets_one_resync_and_the_move_succeeds(running):
    sim, db, _ = running
    sim.control("POST", "/sim/clock", {"shift_ms": 30_000})  # beyond the 5 s recvWindow
    sim.reset_requests()

    drive(sim, {SYMBOL: "110"}, lambda: stops_at(db, "104.50", [SYMBOL]), what="first move")
    after_first = sim.requests()
    drive(sim, {SYMBOL: "120"}, lambda: stops_at(db, "114.00", [SYMBOL]), what="second move")
    after_second = sim.requests()

    # One refused cancelReplace (-1021), one /time, the same cancelReplace again: success.
    assert after_first == {h.REPLACE: 2, TIME: 1}
    # The offset holds: the next move needs no resync.
    assert after_second == {h.REPLACE: 3, TIME: 1}
