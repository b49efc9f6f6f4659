"""The FCM simulator's error answers: google.rpc Status envelopes.

``{"error": {"code", "message", "status", "details"?}}``; ``details`` carries an ``FcmError``
(``errorCode``) where FCM sends one, a ``BadRequest`` with ``fieldViolations`` for a field that
failed, and ``QuotaFailure`` / ``ApnsError`` where fitting. JSON-parse failures (a number as a
data value, an unknown field) carry only the ``BadRequest``, like Google's JSON transcoder.
"""

from __future__ import annotations

from typing import Any

import orjson

from pushgate.simulator.server import Response

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"
JSON_TYPE = "application/json; charset=UTF-8"

_RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_AUTH_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class FcmRejection(Exception):
    """An FCM error answer: raised by a check, rendered by :meth:`response`.

    ``field`` adds a BadRequest field violation whose description is the message ("" for one
    that names no field); ``details`` are appended after the FcmError and BadRequest ones.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        field: str | None = None,
        details: tuple[dict[str, Any], ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status, self.message, self.error_code = status, message, error_code
        self.field, self.details, self.headers = field, details, headers

    @property
    def reason(self) -> str:
        """What the inbox counts: the FcmError code, else the rpc status."""
        return self.error_code or _RPC_STATUS.get(self.status, str(self.status))

    def envelope(self) -> dict[str, Any]:
        """The JSON body."""
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "status": _RPC_STATUS.get(self.status, "UNKNOWN"),
        }
        details: list[dict[str, Any]] = []
        if self.error_code is not None:
            details.append({"@type": FCM_ERROR, "errorCode": self.error_code})
        if self.field is not None:
            violation = {"field": self.field} if self.field else {}
            violation["description"] = self.message
            details.append({"@type": BAD_REQUEST, "fieldViolations": [violation]})
        details.extend(self.details)
        if details:
            error["details"] = details
        return {"error": error}

    def response(self) -> Response:
        """The HTTP answer."""
        headers = (("content-type", JSON_TYPE), *self.headers)
        return Response(self.status, headers, orjson.dumps(self.envelope()))


def invalid_argument(message: str, field: str | None = None) -> FcmRejection:
    """400 INVALID_ARGUMENT with FcmError INVALID_ARGUMENT (and a field violation)."""
    return FcmRejection(400, message, error_code="INVALID_ARGUMENT", field=field)


def parse_error(message: str, field: str) -> FcmRejection:
    """400 INVALID_ARGUMENT from the JSON transcoder: a BadRequest detail, no FcmError."""
    return FcmRejection(400, message, field=field)


def bad_value(field: str, type_name: str, value: object) -> FcmRejection:
    """A value of the wrong type, e.g. ``Invalid value at 'message.data[0].value' (TYPE_STRING), 3``."""
    shown = orjson.dumps(value).decode()  # values come from parsed JSON
    return parse_error(f"Invalid value at '{field}' ({type_name}), {shown}", field)


def unknown_field(name: str, parent: str) -> FcmRejection:
    """A field the schema does not know (``parent`` "" for the top level)."""
    where = f" at '{parent}'" if parent else ""
    message = f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'
    return parse_error(message, parent)


def unauthenticated(missing: bool) -> FcmRejection:
    """401 UNAUTHENTICATED for a missing, unknown or expired access token (no FcmError)."""
    start = "Request is missing required" if missing else "Request had invalid"
    noun = "authentication credential" if missing else "authentication credentials"
    return FcmRejection(
        401,
        f"{start} {noun}. {_AUTH_HINT}",
        headers=(("www-authenticate", 'Bearer realm="https://accounts.google.com/"'),),
    )


def permission_denied(project: str) -> FcmRejection:
    """403 PERMISSION_DENIED: the token's account has no rights on this project (no FcmError)."""
    return FcmRejection(
        403,
        "Permission 'cloudmessaging.messages.create' denied on resource "
        f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
    )


def not_found(message: str = "Requested entity was not found.") -> FcmRejection:
    """404 NOT_FOUND without FcmError (a URL the API does not serve)."""
    return FcmRejection(404, message)


def unregistered() -> FcmRejection:
    """404 UNREGISTERED: the token is dead."""
    return FcmRejection(404, "Requested entity was not found.", error_code="UNREGISTERED")


def sender_id_mismatch() -> FcmRejection:
    """403 SENDER_ID_MISMATCH: the token belongs to another project."""
    return FcmRejection(403, "SenderId mismatch", error_code="SENDER_ID_MISMATCH")


def quota_exceeded(project: str, retry_after: int | None) -> FcmRejection:
    """429 QUOTA_EXCEEDED with a QuotaFailure detail naming the project quota."""
    violation = {"subject": f"project:{project}", "description": "Project message rate exceeded."}
    return FcmRejection(
        429,
        "Quota exceeded for the project's message rate.",
        error_code="QUOTA_EXCEEDED",
        details=({"@type": QUOTA_FAILURE, "violations": [violation]},),
        headers=_retry_after(retry_after),
    )


def unavailable(retry_after: int | None) -> FcmRejection:
    """503 UNAVAILABLE."""
    return FcmRejection(
        503,
        "The service is currently unavailable.",
        error_code="UNAVAILABLE",
        headers=_retry_after(retry_after),
    )


def internal() -> FcmRejection:
    """500 INTERNAL."""
    return FcmRejection(500, "Internal error encountered.", error_code="INTERNAL")


def third_party_auth_error(apns_status: int, apns_reason: str) -> FcmRejection:
    """401 THIRD_PARTY_AUTH_ERROR with the APNs answer FCM relays (camelCase, as captured)."""
    apns = {"@type": APNS_ERROR, "statusCode": apns_status, "reason": apns_reason}
    return FcmRejection(
        401,
        "Auth error from APNS or Web Push Service",
        error_code="THIRD_PARTY_AUTH_ERROR",
        details=(apns,),
    )


def _retry_after(seconds: int | None) -> tuple[tuple[str, str], ...]:
    return () if seconds is None else (("retry-after", str(seconds)),)
