"""Pick the backend the configuration names: the one place that knows every implementation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pushgate.config import Settings
from pushgate.queue.base import Outbox
from pushgate.store.base import Store
from pushgate.store.chat import ChatStore


@dataclass(frozen=True, slots=True)
class Backend:
    """The repositories and the outbox of one database, opened and closed together."""

    store: Store
    outbox: Outbox
    chat: ChatStore
    _open: Callable[[], Awaitable[list[str]]]
    _close: Callable[[], Awaitable[None]]

    async def open(self) -> list[str]:
        """Connect and apply pending migrations; returns the migrations applied."""
        return await self._open()

    async def close(self) -> None:
        """Finish queued writes and disconnect."""
        await self._close()


def backend_for(
    settings: Settings, *, inline_reads: bool = False, checkpoints: bool = True
) -> Backend:
    """The backend of ``store.backend``. SQLite only: ``inline_reads`` runs reads on the
    event loop's thread, for a process confined to one CPU; ``checkpoints=False`` leaves the
    WAL's checkpoints to another process on the same file."""
    if settings.store.backend == "postgresql":
        from pushgate.queue.postgresql import PostgresOutbox
        from pushgate.store.chat_postgresql import PostgresChatStore
        from pushgate.store.postgresql import PostgresDatabase, PostgresStore

        pg = PostgresDatabase(settings.store)
        outbox = PostgresOutbox(pg, settings.store)
        return Backend(PostgresStore(pg), outbox, PostgresChatStore(pg), pg.open, pg.close)
    from pushgate.queue.sqlite import SqliteOutbox
    from pushgate.store.chat_sqlite import SqliteChatStore
    from pushgate.store.sqlite import SqliteDatabase, SqliteStore

    db = SqliteDatabase(
        settings.database_path,
        synchronous=settings.store.synchronous,
        inline_reads=inline_reads,
        checkpoints=checkpoints,
    )

    async def open_sqlite() -> list[str]:
        return db.open()

    async def close_sqlite() -> None:
        db.close()

    return Backend(
        SqliteStore(db), SqliteOutbox(db), SqliteChatStore(db), open_sqlite, close_sqlite
    )
