"""Persistent state: apps, credentials and devices, behind the protocols of ``store.base``.

The outbox is ``pushgate.queue``; ``store.backends`` picks the implementation of both.
"""

from pushgate.store.base import (
    AppRepository,
    CredentialRepository,
    DeviceRepository,
    MetaRepository,
    Store,
)
from pushgate.store.models import (
    App,
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
