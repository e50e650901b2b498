"""The ``book`` fixture of the Book tests: a fresh book in a temp file."""

from __future__ import annotations

import pytest

from tests.exchange.test_book import open_book


@pytest.fixture
def book(tmp_path):
    b = open_book(tmp_path / "book.db")
    yield b
    b.close()
