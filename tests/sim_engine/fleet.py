"""A fleet of positions for the sim benchmarks and tests: ``bench.sim_fleet``."""

from bench.sim_fleet import (  # noqa: F401 - the shared drivers, re-exported for the tests
    ENTRY,
    QTY,
    SETTINGS,
    TICK,
    Fleet,
)
