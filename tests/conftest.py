"""Fixtures shared by every suite: a fresh backend per test (SQLite with a reader thread, SQLite
with inline reads, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends import remember_settings, store_settings
from pushgate.config import Settings
from pushgate.store.backends import backend_for


@pytest.fixture(
    params=[("sqlite", False), ("sqlite", True), ("postgresql", False)],
    ids=["sqlite", "sqlite-inline-reads", "postgresql"],
)
async def backend(tmp_path: Path, request: pytest.FixtureRequest):
    kind, inline = request.param
    async with store_settings(kind, tmp_path) as store:
        settings = Settings(data_dir=tmp_path, store=store)
        opened = backend_for(settings, inline_reads=inline)
        await opened.open()
        try:
            with remember_settings(opened, settings):
                yield opened
        finally:
            await opened.close()
