"""SQLite persistence (DESIGN.md §5, ADR-003): connection, migrations, repository, admin."""
