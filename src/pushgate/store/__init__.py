"""Persistent state: apps, credentials, devices, notifications and the delivery outbox."""

from pushgate.store.models import (
    App,
    DeliveryResult,
    Device,
    NewDelivery,
    PendingDelivery,
    StoredCredential,
)
from pushgate.store.sqlite import SqliteStore

__all__ = [
    "App",
    "DeliveryResult",
    "Device",
    "NewDelivery",
    "PendingDelivery",
    "SqliteStore",
    "StoredCredential",
]
