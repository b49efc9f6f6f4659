"""The FCM HTTP v1 simulator: ``POST /token`` and ``POST /v1/projects/{project}/messages:send``.

A send is answered after these steps, the first failure being the answer (FCM documents no
order; this one puts what a gateway must react to in a sensible order):

1. the path: 404 NOT_FOUND (no FcmError) for anything but the send URL, or a method not POST;
2. the Bearer access token (:mod:`~pushgate.simulator.fcm_auth`): 401 UNAUTHENTICATED, or 403
   PERMISSION_DENIED for an account of another project;
3. the project's rolling 60-s quota (``FcmFaults.quota_per_minute``): 429 QUOTA_EXCEEDED;
4. the body (:mod:`~pushgate.simulator.fcm_checks`): 400 INVALID_ARGUMENT;
5. what the simulator knows about a token: 404 UNREGISTERED, 403 SENDER_ID_MISMATCH;
6. injected faults (``FcmFaults``), THIRD_PARTY_AUTH_ERROR never for ``validate_only``;
7. success: 200 ``{"name": "projects/P/messages/0:..."}`` and an inbox entry, or for
   ``validate_only`` ``.../messages/fake_message_id`` and nothing kept.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable, Collection
from urllib.parse import unquote

import orjson

from pushgate.simulator import fcm_errors as errors
from pushgate.simulator.fcm_auth import OAuthError, authorize_send, exchange
from pushgate.simulator.fcm_checks import SendRequest, parse_send
from pushgate.simulator.fcm_errors import FcmRejection
from pushgate.simulator.fcm_state import FcmRegistry, ServiceAccountRecord
from pushgate.simulator.http1 import StatelessHandler
from pushgate.simulator.inbox import FcmInbox, FcmReceived
from pushgate.simulator.server import Request, Response
from pushgate.simulator.service_faults import FcmFaults, RateInjector, RollingQuota
from pushgate.simulator.settings import SimulatorSettings

TOKEN_PATH = "/token"
_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
_JSON = (("content-type", errors.JSON_TYPE),)


class FcmHandler(StatelessHandler):
    """Answers the token endpoint and the send endpoint on one listener."""

    def __init__(
        self,
        *,
        registry: FcmRegistry,
        faults: RateInjector[FcmFaults],
        quota: RollingQuota,
        inbox: FcmInbox,
        settings: SimulatorSettings,
        audiences: Callable[[], Collection[str]],
    ) -> None:
        self._registry = registry
        self._faults = faults
        self._quota = quota
        self._inbox = inbox
        self.counters = inbox.clients
        self._rules = settings.fcm
        self._clock = settings.clock
        self._audiences = audiences

    def respond(self, request: Request) -> Response:
        """Route to the token endpoint or the send endpoint."""
        if request.path.partition("?")[0] == TOKEN_PATH:
            return self._token(request)
        try:
            answer = self._send(request)
        except FcmRejection as rejection:
            self._inbox.reject(rejection.reason)
            answer = rejection.response()
        return dataclasses.replace(answer, delay=self._faults.plan.response_delay)

    def _token(self, request: Request) -> Response:
        """The OAuth JWT-bearer grant (RFC 7523)."""
        if request.method != "POST":
            return OAuthError("invalid_request", "The token endpoint takes POST.", 405).response()
        try:
            answer = exchange(
                request.body,
                registry=self._registry,
                audiences=self._audiences(),
                rules=self._rules,
                now=self._clock(),
            )
        except OAuthError as error:
            return error.response()
        self.counters.token_refreshed()
        headers = (
            ("content-type", "application/json; charset=utf-8"),
            ("cache-control", "no-store"),
        )
        return Response(200, headers, orjson.dumps(answer))

    def _send(self, request: Request) -> Response:
        """Steps 1-7 of the module docstring."""
        project = _project(request)
        authorization = next((v for k, v in request.headers if k == "authorization"), None)
        if authorization is not None:
            self.counters.credential_seen(authorization)
        account = authorize_send(authorization, project, registry=self._registry, now=self._clock())
        wait = self._quota.admit(account.project_id, self._faults.plan.quota_per_minute)
        if wait is not None:
            raise errors.quota_exceeded(project, wait)
        send = parse_send(request.body, self._rules)
        self._check_token(send, account)
        self._inject(send, project)
        return self._accept(send, project, account)

    def _check_token(self, send: SendRequest, account: ServiceAccountRecord) -> None:
        """What the simulator knows about the target token."""
        if send.target_kind != "token":
            return
        if send.target in self._registry.unregistered:
            raise errors.unregistered()
        owner = self._registry.token_projects.get(send.target)
        if owner is not None and not account.serves(owner):
            raise errors.sender_id_mismatch()

    def _inject(self, send: SendRequest, project: str) -> None:
        """Raise the injected fault for this send, if the plan draws one."""
        plan = self._faults.plan
        skip = ("third_party_auth_error",) if send.validate_only else ()
        fault = self._faults.draw(skip)
        if fault is None:
            return
        raise {
            "quota_exceeded": lambda: errors.quota_exceeded(project, plan.quota_retry_after),
            "unavailable": lambda: errors.unavailable(plan.unavailable_retry_after),
            "internal": errors.internal,
            "third_party_auth_error": lambda: errors.third_party_auth_error(
                plan.apns_status, plan.apns_reason
            ),
            "sender_id_mismatch": errors.sender_id_mismatch,
            "unregistered": errors.unregistered,
        }[fault]()

    def _accept(self, send: SendRequest, project: str, account: ServiceAccountRecord) -> Response:
        """200 with the message name; kept in the inbox unless ``validate_only``."""
        if send.validate_only:
            name = f"projects/{project}/messages/fake_message_id"
        else:
            now = self._clock()
            name = f"projects/{project}/messages/0:{int(now * 1e6)}%{secrets.token_hex(8)}"
            self._inbox.add(
                FcmReceived(
                    now, project, name, send.target_kind, send.target,
                    account.client_email, send.message,
                )
            )  # fmt: skip
        return Response(200, _JSON, orjson.dumps({"name": name}))


def _project(request: Request) -> str:
    """The project id (or number) from the send URL; 404 for any other URL or method."""
    match = _SEND_PATH.fullmatch(request.path.partition("?")[0])
    if match is None:
        raise errors.not_found("The requested URL was not found on this server.")
    if request.method != "POST":
        raise errors.not_found("Method not found.")
    return unquote(match[1])
