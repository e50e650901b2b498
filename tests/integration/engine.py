"""Run the real ``ratchet`` engine as a subprocess: ``bench.engine_process``, shared with the
benchmarks."""

from bench.engine_process import (  # noqa: F401 - the shared drivers, re-exported for the tests
    RATCHET,
    REPO,
    free_port,
    read,
    start,
    stop,
    wait_for,
    write,
    write_config,
)
