"""A real ``ratchet sim-exchange`` subprocess and its control API: ``bench.sim_process``,
shared with the benchmarks."""

from bench.sim_process import (  # noqa: F401 - the shared drivers, re-exported for the tests
    KEY,
    LISTENING,
    REPO,
    SECRET,
    Sim,
    cid,
)
