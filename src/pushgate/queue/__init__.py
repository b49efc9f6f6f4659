"""The durable outbox: accepted notifications and their deliveries until each has a result."""

from pushgate.queue.base import Accepted, Outbox, OutboxEvents

__all__ = ["Accepted", "Outbox", "OutboxEvents"]
