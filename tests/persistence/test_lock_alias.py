"""One engine per DB whatever the path says: the lock belongs to the file, so a symlink to the
DB, or a path through a linked folder, finds it held."""

from __future__ import annotations

import pytest

from core.errors import DatabaseLocked
from persistence.db import acquire_lock


def test_a_symlink_to_a_locked_db_is_refused(tmp_path):
    real = tmp_path / "ratchet.db"
    alias = tmp_path / "alias.db"
    alias.symlink_to(real)

    with acquire_lock(real), pytest.raises(DatabaseLocked) as refused:
        acquire_lock(alias)

    assert "alias.db" in str(refused.value) and str(real) in str(refused.value)


def test_a_path_through_a_linked_folder_is_refused(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "state", target_is_directory=True)

    with acquire_lock(tmp_path / "state" / "ratchet.db"), pytest.raises(DatabaseLocked):
        acquire_lock(tmp_path / "linked" / "ratchet.db")


def test_the_lock_is_free_again_once_released(tmp_path):
    alias = tmp_path / "alias.db"
    alias.symlink_to(tmp_path / "ratchet.db")

    with acquire_lock(tmp_path / "ratchet.db"):
        pass
    with acquire_lock(alias) as lock:
        assert lock.lock_path == tmp_path / "ratchet.db.lock"
