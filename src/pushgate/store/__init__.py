"""Persistent state: apps, credentials and devices, behind the protocols of ``store.base``.

The outbox is ``pushgate.queue``; ``store.backends`` picks the implementation of both.
"""

from pushgate.store.base import (
    AppRepository,
    AuditRepository,
    CredentialRepository,
    DeviceRepository,
    KeyRepository,
    MetaRepository,
    Store,
)
from pushgate.store.models import (
    ApiKey,
    App,
    AuditEntry,
    DeliveryResult,
    Device,
    NewDelivery,
    NewNotification,
    PendingDelivery,
    StoredCredential,
    Verdict,
)

__all__ = [
    "ApiKey",
    "App",
    "AppRepository",
    "AuditEntry",
    "AuditRepository",
    "CredentialRepository",
    "DeliveryResult",
    "Device",
    "DeviceRepository",
    "KeyRepository",
    "MetaRepository",
    "NewDelivery",
    "NewNotification",
    "PendingDelivery",
    "Store",
    "StoredCredential",
    "Verdict",
]
