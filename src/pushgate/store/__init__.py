"""Persistent state: apps, credentials and devices, behind the protocols of ``store.base``.

The outbox is ``pushgate.queue``; ``store.backends`` picks the implementation of both.
"""

from pushgate.store.base import (
    AppRepository,
    AuditRepository,
    CredentialRepository,
    DeviceRepository,
    MetaRepository,
    Store,
)
from pushgate.store.models import (
    App,
    AuditEntry,
    DeliveryResult,
    Device,
    NewDelivery,
    NewNotification,
    PendingDelivery,
    StoredCredential,
)

__all__ = [
    "App",
    "AppRepository",
    "AuditEntry",
    "AuditRepository",
    "CredentialRepository",
    "DeliveryResult",
    "Device",
    "DeviceRepository",
    "MetaRepository",
    "NewDelivery",
    "NewNotification",
    "PendingDelivery",
    "Store",
    "StoredCredential",
]
