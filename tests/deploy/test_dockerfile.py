"""deploy/Dockerfile cannot be built here (no Docker engine), so its contract is checked from
the file: a slim Python 3.11 base, a non-root user, the state on a volume, every COPY source
present, and a HEALTHCHECK whose own command, run here against a real ``/healthz``, passes only
while the engine trades."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys

import pytest

from core.config import load_config
from telemetry.metrics import Metrics
from tests.conftest import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _one(name: str) -> str:
    found = [args for word, args in _instructions() if word == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def test_the_image_is_python_311_slim_and_runs_as_a_non_root_user():
    words = [w for w, _ in _instructions()]
    user = _one("USER").split(":")[0]

    assert _instructions()[0] == ("FROM", "python:3.11-slim")
    assert user not in ("root", "0")
    assert words.index("USER") < words.index("ENTRYPOINT")


def test_the_state_lives_on_a_volume_where_the_shipped_config_puts_the_db():
    volumes = json.loads(_one("VOLUME"))
    cfg = load_config(REPO / "deploy" / "ratchet.toml", need_keys=False)

    assert str(cfg.engine.db_path.parent) in volumes


def test_every_copy_source_exists_and_every_package_is_copied():
    copied = [args.split()[:-1] for word, args in _instructions() if word == "COPY"]
    sources = [s.rstrip("/") for group in copied for s in group]
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    packages = {p.strip().split(".")[0] for p in
                setup["options.packages.find"]["include"].split() if p.strip()}

    assert all((REPO / s).exists() for s in sources), sources
    assert packages <= set(sources)


def test_no_secret_is_baked_into_the_image():
    env_lines = " ".join(args for word, args in _instructions() if word in ("ENV", "ARG"))

    assert "RATCHET_API_KEY" not in env_lines and "RATCHET_API_SECRET" not in env_lines
    assert "RATCHET_DB_PASSWORD" not in env_lines


@pytest.fixture
def served():
    metrics = Metrics()
    metrics.serve("127.0.0.1", 0)
    yield metrics
    metrics.stop()


def test_the_healthcheck_command_passes_only_while_the_engine_trades(served):
    healthcheck = _one("HEALTHCHECK")
    url = next(a for w, a in _instructions() if w == "ENV" and "RATCHET_HEALTHZ_URL=" in a)
    assert url.endswith("/healthz") and "127.0.0.1:9464" in url  # deploy/ratchet.toml's port
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert command[0] == "python"
    env = {"RATCHET_HEALTHZ_URL": f"http://127.0.0.1:{served.port}/healthz", "PATH": ""}

    def probe() -> int:
        return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                              timeout=30).returncode

    booting = probe()
    served.pair("BTCUSDT").up(True)
    served.health.trading()
    trading = probe()
    served.health.stopping()
    stopping = probe()

    assert (booting, trading, stopping) == (1, 0, 1)
