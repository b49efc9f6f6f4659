"""A thread that checkpoints the SQLite write-ahead log in the background.

SQLite's automatic checkpoint runs inside the commit that grew the WAL past 1,000 pages: that
writer thread copies the pages into the database file and fsyncs it before it answers anyone.
Measured on the Mattermost door at 1,000 pushes/s, accepts stalled for 50-140 ms every few
seconds, and those stalls were the p99. Here the connections' automatic threshold is raised
to a backstop (``BACKSTOP_PAGES``, reached only if this thread falls behind) and this thread
runs a PASSIVE checkpoint every ``CHECKPOINT_EVERY`` seconds, which waits for no reader or
writer, so nothing waits for it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

CHECKPOINT_EVERY = 0.5
BACKSTOP_PAGES = 20_000
"""About 80 MB of WAL: the point where a commit checkpoints by itself after all."""

log = logging.getLogger("pushgate.store")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection until stopped."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name="pushgate-db-checkpointer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join()

    def _main(self) -> None:
        conn = self._connect()
        failing = False
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    if not failing:  # once per run of failures; the next round tries again
                        log.warning("checkpointing the SQLite WAL failed: %s", exc)
                    failing = True
                else:
                    failing = False
        finally:
            conn.close()
