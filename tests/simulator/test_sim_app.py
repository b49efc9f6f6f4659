"""The Simulator object and ``serve()``: state directory reuse, key formats, running as a program."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sim_h2_client import H2TestClient, client_context
from sim_support import TOPIC, FakeClock, SigningKey, push

from pushgate.simulator import Simulator, SimulatorSettings


async def test_state_dir_is_created_then_reused(tmp_path: Path) -> None:
    settings = SimulatorSettings(state_dir=tmp_path / "new" / "state")

    async with Simulator(settings) as first:
        ca_pem = first.ca.ca_cert_pem
    async with Simulator(settings) as second:
        assert second.ca.ca_cert_pem == ca_pem
        assert second.ca_file == str(tmp_path / "new" / "state" / "ca.pem")


async def test_temporary_state_dir_is_removed(clock: FakeClock) -> None:
    async with Simulator(SimulatorSettings(clock=clock)) as sim:
        state_dir = Path(sim.ca_file).parent
        assert _exists(state_dir)

    assert not _exists(state_dir)


async def test_a_p8_private_key_can_be_registered(clock: FakeClock) -> None:
    signing = SigningKey.generate()
    p8 = signing.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    async with Simulator(SimulatorSettings(clock=clock)) as sim:
        sim.register_key(signing.key_id, signing.team_id, p8, bundle_ids=[TOPIC])
        client = await H2TestClient.connect(sim.apns_sandbox_port, client_context(sim.ca_file))
        answer = await push(client, signing.token(clock()))
        await client.close()

    assert answer.status == 200


async def test_keys_other_than_p256_are_refused(sim: Simulator) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = p384.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    with pytest.raises(ValueError, match="P-256"):
        sim.register_key("KEY", "TEAM", pem, bundle_ids=["com.example.chat"])


async def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        SimulatorSettings(prot=1)  # type: ignore[call-arg]


async def test_serve_prints_where_it_listens_and_stops_on_sigterm(tmp_path: Path) -> None:
    code = (
        "from pushgate.simulator import SimulatorSettings, serve; "
        f"serve(SimulatorSettings(state_dir={str(tmp_path)!r}))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("Press Ctrl+C"):
        lines.append((await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip())

    port = int(re.search(r"APNs sandbox\s+https://127\.0\.0\.1:(\d+)", "\n".join(lines))[1])  # type: ignore[index]
    client = await H2TestClient.connect(port, client_context(str(tmp_path / "ca.pem")))
    assert client.max_streams == 1
    process.send_signal(signal.SIGTERM)

    assert await asyncio.wait_for(process.wait(), 20) == 0
    assert any(line.startswith("trust this CA") for line in lines)
    await client.close()


def _exists(path: Path) -> bool:
    return path.exists()
