"""One engine per prefix on an API key (issue 25): engines with prefixes ``rt`` and ``rtb`` on
one key never touch each other's stops across restarts; a second engine with the same prefix
is refused at boot, naming the stops and the two ways out, with nothing changed; and
``ratchet reconcile --adopt-orphans`` takes over the stops of a lost DB."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from core.types import PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import DEFAULTS, drive

A, B = "AAAUSDT", "BBBUSDT"


def config_in(directory: Path, sim, symbols: list[str], prefix: str = "rt") -> Path:
    directory.mkdir(exist_ok=True)
    return h.write_config(directory, sim.url, symbols, defaults=DEFAULTS,
                          engine_keys={"client_id_prefix": f'"{prefix}"'})


def protected(config: Path, sim, symbol: str):
    return drive(sim, {symbol: "100"}, lambda: _own_stop(config, sim, symbol),
                 what=f"{symbol} protected")


def ratchet(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*engine.RATCHET, *args, "-c", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(engine.REPO), **h.CREDENTIALS})


def _own_stop(config: Path, sim, symbol: str):
    """The position of ``symbol`` in this engine's DB, once its stop is open on the sim."""
    p = h.open_positions(config.parent / "ratchet.db").get(symbol)
    if p is None or p.state is not PositionState.OPEN or p.stop_order_id is None:
        return None
    on_sim = {o["clientOrderId"] for o in sim.orders() if o["status"] == "NEW"}
    return p if p.stop_order_id in on_sim else None


def open_stops(sim) -> set[str]:
    return {o["clientOrderId"] for o in sim.orders() if o["status"] == "NEW"}


def test_prefixes_rt_and_rtb_on_one_key_leave_each_other_alone_across_restarts(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", A, B, *h.UNLIMITED)
    try:
        sim.pause()
        first = config_in(sim_dir / "rt", sim, [A])
        second = config_in(sim_dir / "rtb", sim, [B], prefix="rtb")
        one, two = h.start_engine(first), h.start_engine(second)
        try:
            held_a, held_b = protected(first, sim, A), protected(second, sim, B)
            h.stop_engine(one, signal.SIGKILL)
            one = h.start_engine(first)  # its boot sees rtb-... open: not its own
            again_a = protected(first, sim, A)
            h.stop_engine(two)
            two = h.start_engine(second)
            again_b = protected(second, sim, B)
            stops = open_stops(sim)
        finally:
            out_one, out_two = h.stop_engine(one), h.stop_engine(two)
    finally:
        sim.stop()

    assert not h.traceback_in(out_one + out_two)
    assert (again_a.stop_order_id, again_b.stop_order_id) == (held_a.stop_order_id,
                                                              held_b.stop_order_id)
    assert stops == {held_a.stop_order_id, held_b.stop_order_id}


def test_a_second_engine_with_the_same_prefix_is_refused_and_changes_nothing(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", A, *h.UNLIMITED)
    try:
        sim.pause()
        first = config_in(sim_dir / "one", sim, [A])
        proc = h.start_engine(first)
        try:
            held = protected(first, sim, A)
            twin = config_in(sim_dir / "two", sim, [A])
            refused = ratchet(twin, "run")
            stops = open_stops(sim)
        finally:
            out = h.stop_engine(proc)
    finally:
        sim.stop()

    assert not h.traceback_in(out)
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip().splitlines()[-1]  # after the boot's log lines
    assert line.startswith("ratchet: boot refused") and held.stop_order_id in line
    assert "client_id_prefix" in line and "--adopt-orphans" in line
    assert stops == {held.stop_order_id}  # the first engine's stop is untouched


def test_adopt_orphans_takes_over_the_stop_of_a_lost_db(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", A, *h.UNLIMITED)
    try:
        sim.pause()
        config = config_in(sim_dir / "engine", sim, [A])
        proc = h.start_engine(config)
        try:
            held = protected(config, sim, A)
        finally:
            h.stop_engine(proc)
        db = config.parent / "ratchet.db"
        for path in db.parent.glob("ratchet.db*"):
            path.unlink()  # the DB is lost; the stop stays on the venue
        taken = ratchet(config, "reconcile", "--adopt-orphans")
        proc = h.start_engine(config)
        try:
            again = protected(config, sim, A)
            stops = open_stops(sim)
        finally:
            out = h.stop_engine(proc)
    finally:
        sim.stop()

    assert taken.returncode == 0, taken.stderr
    assert not h.traceback_in(out)
    assert (again.stop_order_id, again.qty, again.entry_kind) == (
        held.stop_order_id, held.qty, "adopted")
    assert stops == {held.stop_order_id}
