"""Boot checks of ``ratchet run`` in binance mode: a wrong secret, and the live-money rule.

No request ever leaves 127.0.0.0/8. The live-money cases point ``base_url`` at
``http://0.0.0.0:PORT`` with PORT the sim's: the config check does not count 0.0.0.0 as
loopback (so real-money rules apply), while Linux delivers a connection to 0.0.0.0 to the local
host. The sim's request counts then show whether anything was sent before the refusal.
"""

from __future__ import annotations

import pytest

from tests.sim_engine import harness as h

SYMBOLS = ("BTCUSDT",)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    sim = h.start_sim(tmp_path_factory.mktemp("sim"))
    sim.pause()
    yield sim
    sim.stop()


def test_wrong_secret_is_one_line_on_stderr_and_exit_2(sim, tmp_path):
    config = h.write_config(tmp_path, sim.url, SYMBOLS)
    sim.reset_requests()

    result = h.run_engine(config, env={"RATCHET_API_SECRET": "not-the-secret"})

    assert result.returncode == 2, result.stderr
    assert result.stderr == "ratchet: invalid API key or secret\n"
    assert result.stdout == ""
    assert sim.requests().get("GET /api/v3/account") == 1  # it did ask the venue


@pytest.mark.parametrize("live_in_config, live_flag", [(False, False), (True, False),
                                                        (False, True)],
                         ids=["neither", "config-only", "flag-only"])
def test_non_loopback_base_url_is_refused_before_any_request(sim, tmp_path, live_in_config,
                                                             live_flag):
    config = h.write_config(tmp_path, f"http://0.0.0.0:{sim.port}", SYMBOLS,
                            exchange={"live": str(live_in_config).lower()})
    sim.reset_requests()

    result = h.run_engine(config, *(["--live"] if live_flag else []))

    assert result.returncode == 2, result.stderr  # a person must change it: not restarted
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ratchet: refusing to trade real money on "
                                                   f"http://0.0.0.0:{sim.port}")
    assert sim.requests() == {}
    assert not (tmp_path / "ratchet.db").exists()


def test_live_in_config_and_on_the_command_line_gets_past_the_refusal(sim, tmp_path):
    config = h.write_config(tmp_path, f"http://0.0.0.0:{sim.port}", SYMBOLS,
                            exchange={"live": "true"})
    sim.reset_requests()

    result = h.run_engine(config, "--live", "--duration", "1")

    assert result.returncode == 0, result.stderr
    assert "refusing" not in result.stderr
    assert sim.requests().get("GET /api/v3/account", 0) >= 1  # it went on to the venue


@pytest.mark.parametrize(("defaults", "words"), [
    pytest.param({"stop_mode": "native", "trail_pct": "25"},
                 "BTCUSDT: stop_mode = \"native\" is not possible: trail_pct 25 is 2500 basis "
                 "points, outside the symbol's TRAILING_DELTA filter [10, 2000]",
                 id="native-outside-exchangeinfo-trailing-delta"),
    pytest.param({"entry": "adopt"}, None, id="control-adopt-boots"),
])
def test_a_native_pair_the_venue_cannot_trail_is_a_config_error_naming_it(sim, tmp_path,
                                                                        defaults, words):
    config = h.write_config(tmp_path, sim.url, SYMBOLS, defaults=defaults)

    result = h.run_engine(config, "--duration", "1")

    if words is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == f"ratchet: {words}"  # after the boot's log lines
    # The plan printed before boot says so too; nothing traded.
    assert 'BTCUSDT  nothing: stop_mode = "native" is not possible here' in result.stdout
    assert "ratchet: binance mode" not in result.stdout


def test_two_pairs_trading_an_adopting_pairs_base_asset_is_a_config_error(tmp_path):
    sim = h.start_sim(tmp_path, "--symbols", "BTCUSDT", "ETHBTC")
    try:
        sim.pause()
        config = h.write_config(tmp_path, sim.url, ("BTCUSDT", "ETHBTC"))
        text = config.read_text().replace('symbol = "BTCUSDT"',
                                          'symbol = "BTCUSDT"\nentry = "adopt"')
        config.write_text(text)

        result = h.run_engine(config, "--duration", "1")
    finally:
        sim.stop()

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        'ratchet: BTCUSDT: entry = "adopt" protects the free BTC balance, which ETHBTC also '
        "trades; an adopting pair must be the only one trading its base asset")
