"""pushgate's local push service: an APNs-compatible HTTP/2 server with an inbox, faults and a control API.

Use it in-process::

    async with Simulator(SimulatorSettings()) as sim:
        sim.register_key("ABC123DEFG", "TEAM123456", public_key_pem)
        ...  # send to 127.0.0.1:sim.apns_sandbox_port, trusting sim.ca_file

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
from pushgate.simulator.inbox import Inbox, ReceivedNotification
from pushgate.simulator.settings import CLI_PORTS, ApnsRules, SimulatorSettings

__all__ = [
    "CLI_PORTS",
    "ApnsCertificateInfo",
    "ApnsFaults",
    "ApnsRules",
    "FaultRate",
    "Inbox",
    "ProviderKey",
    "ReceivedNotification",
    "Simulator",
    "SimulatorCA",
    "SimulatorSettings",
    "read_apns_certificate",
    "serve",
    "to_p12",
]
