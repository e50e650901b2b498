"""Chaos summaries: each run adds its line, and the lines print at the end of the session
(``-q`` or not, ``-s`` or not), under "chaos summary"."""

from __future__ import annotations

import pytest

_LINES: list[str] = []


@pytest.fixture
def chaos_report():
    """``chaos_report(line)``: print the line now (seen with ``-s``) and in the summary."""

    def report(line: str) -> None:
        print(line)
        _LINES.append(line)

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _LINES:
        terminalreporter.section("chaos summary")
        for line in _LINES:
            terminalreporter.write_line(line)
