"""pushgate: a self-hosted push gateway for chat apps (APNs, FCM, Web Push)."""

__version__ = "0.1.0"
