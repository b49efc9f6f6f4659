"""Dispatch: the in-memory window over the outbox, the dispatcher, its provider stack and the
process it runs in by default."""
