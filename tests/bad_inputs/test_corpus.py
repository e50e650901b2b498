"""The bad-input corpus (``cases.py``): one line on stderr naming the problem, the documented
exit code, every input file byte-identical, and no secret from the environment echoed."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.bad_inputs import helpers as h
from tests.bad_inputs.cases import ALL, Case
from tests.integration.engine import free_port

LOCK_HOLDER = ('[engine]\nmode = "paper"\ndb_path = "ratchet.db"\nmetrics_port = {port}\n'
               '[defaults]\nentry = "none"\n[[pairs]]\nsymbol = "BTCUSDT"\n')


def _materialise(case: Case, directory) -> None:
    port = str(free_port())
    for name, content in case.files.items():
        path = directory / name
        if isinstance(content, str):
            content = content.replace("{port}", port).replace("{dir}", str(directory))
            path.write_text(content)
        else:
            path.write_bytes(content)
    if case.setup is not None:
        case.setup(directory)


def _hold_lock(directory) -> subprocess.Popen:
    """A real engine on the case's DB (no entries, so it writes nothing after booting)."""
    holder = directory / "holder"
    holder.mkdir()
    (holder / "ratchet.toml").write_text(
        LOCK_HOLDER.replace("{port}", str(free_port())).replace(
            '"ratchet.db"', f'"{directory / "ratchet.db"}"'))
    proc = subprocess.Popen([*h.RATCHET, "run", "-c", "ratchet.toml"], cwd=holder,
                            env=h.child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()  # the boot line: reconciled, the lock is held
    assert line.startswith("ratchet: paper mode"), line
    time.sleep(0.3)
    return proc


@pytest.mark.parametrize("case", ALL)
def test_bad_input_is_refused_with_one_line_and_changes_nothing(case: Case, tmp_path):
    work = tmp_path / "case"
    work.mkdir()
    _materialise(case, work)
    holder = _hold_lock(work) if case.hold_lock else None
    try:
        before = h.digests(work)
        result = h.run(list(case.args), cwd=work, env=case.env, preexec=case.preexec)
        after = h.digests(work)
    finally:
        if holder is not None:
            holder.send_signal(signal.SIGTERM)
            holder.communicate(timeout=30)

    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert case.needle.lower() in lines[0].lower(), lines[0]
    assert result.returncode == case.code, result.stderr
    assert {k: after.get(k) for k in before} == before
    for value in case.env.values():
        assert value not in result.stderr + result.stdout


def test_the_corpus_has_at_least_30_cases():
    assert len(ALL) >= 30
