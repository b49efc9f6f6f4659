"""The admin console in a real browser: Debian's Chromium, headless, driven by Playwright.

A real gateway sends to the simulator; each test signs in, clicks through pages and checks
what they show against the JSON API's answers. Without Chromium the tests skip, except in CI
(``CI`` set), where they fail: ``./scripts/test`` installs it when running as root.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import ADMIN_KEY, TOPIC, RunningGateway, create_app, new_signing_key
from playwright.async_api import Browser, Page, async_playwright, expect
from test_apns_delivery import register, send_and_wait
from test_webpush_delivery import browser_subscription

from pushgate.simulator import Simulator
from pushgate.simulator.certs import to_p12

CHROMIUM = Path(os.environ.get("PUSHGATE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FOUND = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_FOUND:
        message = f"Chromium is missing at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    opened = await context.new_page()
    yield opened
    await context.close()


async def sign_in(page: Page, gw: RunningGateway, key: str) -> None:
    await page.goto(f"{gw.url}/console")
    await expect(page).to_have_url(f"{gw.url}/console/login")
    await page.fill("input[name=api_key]", key)
    await page.click("button[type=submit]")
    await expect(page.locator("form.logout")).to_be_visible()


async def test_sign_in_keeps_the_key_out_of_urls_and_readable_cookies(
    gw: RunningGateway, page: Page
) -> None:
    await page.goto(f"{gw.url}/console/login")
    await page.fill("input[name=api_key]", "pgadm_not-the-key")
    await page.click("button[type=submit]")
    await expect(page.locator(".error")).to_contain_text("not valid")

    forged = await page.context.request.post(
        f"{gw.url}/console/login", form={"api_key": ADMIN_KEY, "login_token": "guessed"}
    )
    assert forged.status == 403
    assert not [c for c in await page.context.cookies() if c["name"] == "pushgate_console"]

    await sign_in(page, gw, ADMIN_KEY)
    await expect(page).to_have_url(f"{gw.url}/console/apps")
    assert ADMIN_KEY not in page.url and ADMIN_KEY not in await page.content()
    (session,) = [c for c in await page.context.cookies() if c["name"] == "pushgate_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert ADMIN_KEY not in session["value"]
    assert await page.evaluate("document.cookie") == ""

    await page.click("text=Sign out")
    await expect(page).to_have_url(f"{gw.url}/console/login")
    await page.goto(f"{gw.url}/console/apps")
    await expect(page).to_have_url(f"{gw.url}/console/login")


async def test_admin_sees_every_app_and_credential_health(
    gw: RunningGateway, sim: Simulator, page: Page
) -> None:
    token_key, cert_key = await create_app(gw, "chat"), await create_app(gw, "other")
    async with gw.client(token_key) as api:
        upload = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await api.put("/v1/credentials/apns", json=upload)).status_code == 201
        await send_and_wait(
            api, tokens=[await register(api, "alice")], alert={"body": "mint a JWT"}
        )
        unknown = {**upload, "key_p8": _unknown_p8(), "environment": "production"}
        assert (await api.put("/v1/credentials/apns", json=unknown)).status_code == 201
        prod = await register(api, "alice", "production")
        refused = await send_and_wait(api, tokens=[prod], alert={"body": "refused key"})
        assert refused["results"][0]["status"] == "rejected"
        credentials = {c["name"]: c for c in (await api.get("/v1/credentials")).json()}
    async with gw.client(cert_key) as api:
        cert_pem, key_pem = sim.issue_client_certificate(TOPIC, "sandbox")
        p12 = base64.b64encode(to_p12(cert_pem, key_pem, b"pw")).decode()
        body = {
            "kind": "certificate",
            "p12_base64": p12,
            "password": "pw",
            "environment": "sandbox",
        }
        assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
        (certificate,) = (await api.get("/v1/credentials")).json()
    async with gw.client(ADMIN_KEY) as admin:
        apps = (await admin.get("/v1/apps")).json()

    await sign_in(page, gw, ADMIN_KEY)
    rows = page.locator("#apps tbody tr")
    await expect(rows).to_have_count(len(apps))
    for app in apps:
        await expect(page.locator(f"#apps tr[data-app-id='{app['id']}']")).to_contain_text(
            app["api_key_prefix"]
        )

    await page.click("text=chat")
    sandbox = page.locator("#credentials tr[data-credential='apns/sandbox']")
    assert credentials["sandbox"]["health"]["token_age_seconds"] is not None
    await expect(sandbox.locator(".health")).to_have_text("ok")
    await expect(sandbox.locator(".jwt-age")).to_have_text(re.compile(r"^\d+ s$|^\d+ min \d+ s$"))
    production = page.locator("#credentials tr[data-credential='apns/production']")
    reason = credentials["production"]["last_error"]["reason"]
    assert reason == "InvalidProviderToken"
    await expect(production.locator(".health")).to_contain_text("error")
    await expect(production.locator(".last-error")).to_contain_text(reason)

    await page.click("text=Apps")
    await page.click("text=other")
    row = page.locator("#credentials tr[data-credential='apns/sandbox']")
    await expect(row.locator(".expiry")).to_contain_text(certificate["not_after"])
    await expect(row.locator(".health")).to_have_text(certificate["health"]["status"])


def _unknown_p8() -> str:
    """A valid .p8 key the simulator was never told about: APNs answers InvalidProviderToken."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_devices_and_push_log_match_the_api(
    gw: RunningGateway, token_app: httpx.AsyncClient, sim: Simulator, app_key: str, page: Page
) -> None:
    alive, dead = await register(token_app, "alice"), await register(token_app, "alice")
    await register(token_app, "bob")
    sim.mark_dead(dead)
    first = await send_and_wait(token_app, user_ids=["alice"], alert={"title": "Hello alice"})
    await send_and_wait(token_app, user_ids=["bob"], alert={"title": "Hello bob"})
    devices = (await token_app.get("/v1/devices", params={"user_id": "alice"})).json()
    log = (await token_app.get("/v1/notifications", params={"user_id": "alice"})).json()

    await sign_in(page, gw, app_key)
    await page.click("text=Devices")
    await page.fill("input[name=user_id]", "alice")
    await page.click("text=Show")
    await expect(page.locator("#devices tbody tr")).to_have_count(len(devices))
    for device in devices:
        row = page.locator(f"#devices tr[data-token='{device['token']}']")
        await expect(row.locator(".state")).to_have_text(
            "active" if device["active"] else "inactive"
        )
        await expect(row.locator(".inactive-reason")).to_have_text(device["inactive_reason"] or "")
    assert {d["token"]: d["active"] for d in devices} == {alive: True, dead: False}

    await page.click("text=Push log")
    await expect(page.locator("article.notification")).to_have_count(2)
    await page.fill("input[name=user_id]", "alice")
    await page.click("text=Show")
    (listed,) = log["notifications"]
    assert listed["id"] == first["id"]
    article = page.locator(f"article[data-id='{listed['id']}']")
    await expect(page.locator("article.notification")).to_have_count(1)
    await expect(article.locator(".summary")).to_contain_text("Hello alice")
    for result in listed["results"]:
        row = article.locator(f"tr[data-token='{result['token']}']")
        await expect(row.locator(".outcome")).to_have_text(result["status"])
        await expect(row.locator(".reason")).to_have_text(result["reason"] or "")

    await article.locator("h2 a").click()
    await expect(page.locator("h1")).to_contain_text(listed["id"])
    payload = page.locator("section.provider-request[data-platform='apns'] pre.body")
    await expect(payload).to_contain_text('"title": "Hello alice"')


async def test_test_push_shows_the_render_and_the_providers_answer(
    gw: RunningGateway, token_app: httpx.AsyncClient, sim: Simulator, app_key: str, page: Page
) -> None:
    alive, dead = await register(token_app, "carol"), await register(token_app, "carol")
    sim.mark_dead(dead)
    account = sim.create_service_account("chat-android")
    await token_app.put("/v1/credentials/fcm", json={"service_account": account})
    android = sim.create_fcm_token("chat-android")
    response = await token_app.post(
        "/v1/devices", json={"user_id": "carol", "platform": "fcm", "token": android}
    )
    assert response.status_code == 201, response.text
    vapid = await token_app.put(
        "/v1/credentials/webpush", json={"generate": True, "subject": "mailto:ops@example.com"}
    )
    subscription = browser_subscription(sim, vapid.json()["public_key"])
    response = await token_app.post(
        "/v1/devices",
        json={"user_id": "carol", "platform": "webpush", "subscription": subscription},
    )
    assert response.status_code == 201, response.text
    await sign_in(page, gw, app_key)
    await page.click("text=Test push")
    await page.fill("input[name=user_id]", "carol")
    await page.fill("input[name=title]", "From the console")
    await page.fill("input[name=body]", "It works <b>escaped</b>")
    await page.fill("textarea[name=data]", '{"chat_id": "42"}')
    await page.click("form.test-push button[type=submit]")

    result = page.locator("#test-result")
    await expect(result).to_be_visible()
    notification_id = await result.locator(".notification-id").inner_text()
    report = (await token_app.get(f"/v1/notifications/{notification_id}")).json()
    (received,) = sim.inbox.query(token=alive)
    assert received.payload["aps"]["alert"] == {
        "title": "From the console",
        "body": "It works <b>escaped</b>",
    }
    for outcome in report["results"]:
        row = result.locator(f"tr[data-token='{outcome['token']}']")
        await expect(row.locator(".outcome")).to_have_text(outcome["status"])
        await expect(row.locator(".reason")).to_have_text(outcome["reason"] or "")
    delivered = next(r for r in report["results"] if r["token"] == alive)
    assert delivered["provider_id"] == received.apns_id
    await expect(result.locator(f"tr[data-token='{alive}']")).to_contain_text(received.apns_id)
    apns = result.locator("section.provider-request[data-platform='apns']")
    await expect(apns.locator("pre.body")).to_contain_text('"chat_id": "42"')
    await expect(apns.locator("pre.body")).to_contain_text("It works <b>escaped</b>")
    assert await apns.locator("pre.body b").count() == 0
    await expect(apns.locator("table.headers")).to_contain_text(received.topic)
    assert json.loads(await apns.locator("pre.body").inner_text()) == received.payload
    (browser_received,) = sim.webpush_inbox.query(endpoint=subscription["endpoint"])
    web = result.locator("section.provider-request[data-platform='webpush'] pre.body")
    assert json.loads(await web.inner_text()) == json.loads(browser_received.plaintext)
    (fcm_received,) = sim.fcm_inbox.query(token=android)
    assert fcm_received.message["notification"]["title"] == "From the console"
    fcm = result.locator("section.provider-request[data-platform='fcm']")
    await expect(fcm.locator("h3")).to_contain_text(android)
    await expect(fcm.locator("pre.body")).to_contain_text('"title": "From the console"')
    await expect(result.locator(f"tr[data-token='{android}']")).to_contain_text(
        fcm_received.message_id
    )
    async with gw.client(app_key) as api:
        credentials = {c["platform"]: c for c in (await api.get("/v1/credentials")).json()}
    assert credentials["fcm"]["health"]["token_age_seconds"] is not None

    await page.fill("textarea[name=data]", "not json")
    await page.click("form.test-push button[type=submit]")
    await expect(page.locator(".error")).to_contain_text("JSON object")


async def test_an_app_key_sees_only_its_app_and_forms_need_the_csrf_token(
    gw: RunningGateway, app_key: str, page: Page
) -> None:
    other_key = await create_app(gw, "someone-else")
    async with gw.client(ADMIN_KEY) as admin:
        apps = {a["name"]: a["id"] for a in (await admin.get("/v1/apps")).json()}
    await sign_in(page, gw, app_key)
    own = page.url.rsplit("/", 1)[-1]
    assert own in apps.values() and own != apps["someone-else"]
    for path in (f"/console/apps/{apps['someone-else']}", "/console/rates", "/console/apps"):
        answer = await page.goto(f"{gw.url}{path}")
        assert answer is not None
        if path == "/console/apps":
            await expect(page).to_have_url(f"{gw.url}/console/apps/{own}")
        else:
            assert answer.status == 404
    forged = await page.context.request.post(
        f"{gw.url}/console/apps/{own}/test-push", form={"user_id": "x", "title": "forged"}
    )
    assert forged.status == 403
    async with gw.client(app_key) as api:
        assert (await api.get("/v1/notifications")).json()["notifications"] == []
    async with gw.client(other_key) as other:
        assert (await other.get("/v1/notifications")).json()["notifications"] == []


async def test_rates_chart_draws_the_delivery_counters(
    gw: RunningGateway, token_app: httpx.AsyncClient, sim: Simulator, page: Page
) -> None:
    token = await register(token_app, "dora")
    # the counter is the test process's: earlier tests' deliveries are in it already
    before = await _settled_counter(gw, "apns", "delivered", at_least=0)
    for _ in range(3):
        await send_and_wait(token_app, tokens=[token], alert={"body": "count me"})
    total = await _settled_counter(gw, "apns", "delivered", at_least=before + 3)

    await sign_in(page, gw, ADMIN_KEY)
    await page.click("#nav-rates")
    row = page.locator("#rates-table tr[data-series='apns delivered']")
    await expect(row.locator(".total")).to_have_text(f"{total:g}", timeout=10_000)
    line = page.locator("#rates-chart polyline[data-series='apns delivered']")
    await expect(line).to_have_count(1)
    # one point per second sampled: a gateway started a moment ago has drawn only one so far
    await expect(line).to_have_attribute("points", re.compile(r"^\S+( \S+)+$"), timeout=10_000)


async def _settled_counter(
    gw: RunningGateway, platform: str, result: str, at_least: float
) -> float:
    """The /metrics delivery counter once the dispatcher process has reported ``at_least``."""
    pattern = re.compile(
        rf'pushgate_delivery_attempts_total\{{platform="{platform}",result="{result}"\}} (\S+)'
    )
    async with gw.client(None) as anon:
        for _ in range(100):
            match = pattern.search((await anon.get("/metrics")).text)
            assert match is not None
            if float(match.group(1)) >= at_least:
                return float(match.group(1))
            await asyncio.sleep(0.1)
    raise AssertionError(f"{platform}/{result} stayed below {at_least}")
