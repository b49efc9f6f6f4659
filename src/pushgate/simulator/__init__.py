"""pushgate's local push services: APNs-, FCM HTTP v1- and Web Push-compatible HTTPS servers with
inboxes, faults and a control API.

Use it in-process::

    async with Simulator(SimulatorSettings()) as sim:
        sim.register_key("ABC123DEFG", "TEAM123456", public_key_pem, bundle_ids=["com.example.chat"])
        ...  # send to 127.0.0.1:sim.apns_sandbox_port, trusting sim.ca_file
        service_account = sim.create_service_account("demo-project")  # token_uri: sim.fcm_token_url
        subscription = sim.create_webpush_subscription(vapid_public_key_b64url)

or from the command line through :func:`serve` (``pushgate simulator``).
"""

from pushgate.simulator.apns_state import ProviderKey
from pushgate.simulator.app import Simulator, serve
from pushgate.simulator.certs import (
    ApnsCertificateInfo,
    SimulatorCA,
    read_apns_certificate,
    to_p12,
)
from pushgate.simulator.faults import ApnsFaults, FaultRate
from pushgate.simulator.inbox import (
    FcmInbox,
    FcmReceived,
    Inbox,
    ReceivedNotification,
    WebPushInbox,
    WebPushReceived,
)
from pushgate.simulator.service_faults import FcmFaults, WebPushFaults
from pushgate.simulator.settings import (
    CLI_PORTS,
    ApnsRules,
    FcmRules,
    SimulatorSettings,
    WebPushRules,
)

__all__ = [
    "CLI_PORTS",
    "ApnsCertificateInfo",
    "ApnsFaults",
    "ApnsRules",
    "FaultRate",
    "FcmFaults",
    "FcmInbox",
    "FcmReceived",
    "FcmRules",
    "Inbox",
    "ProviderKey",
    "ReceivedNotification",
    "Simulator",
    "SimulatorCA",
    "SimulatorSettings",
    "WebPushFaults",
    "WebPushInbox",
    "WebPushReceived",
    "WebPushRules",
    "read_apns_certificate",
    "serve",
    "to_p12",
]
