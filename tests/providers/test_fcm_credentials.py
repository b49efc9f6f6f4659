"""Loading FCM service-account files: every CredentialError code, secret-free reprs and messages."""

from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fcm_testkit import (
    CLIENT_EMAIL,
    PRIVATE_KEY_ID,
    PROJECT_ID,
    TOKEN_URI,
    pem,
    rsa_key,
    service_account_json,
)

from pushgate.errors import CredentialError
from pushgate.providers.fcm_credentials import REQUIRED_FIELDS, load_service_account


def key_chunks() -> list[str]:
    """Pieces of the private key's base64 body: none may appear in reprs or messages."""
    body = "".join(pem(rsa_key()).splitlines()[1:-1])
    return [body[:24], body[200:224], body[-24:]]


def load_error(raw: bytes | str) -> CredentialError:
    with pytest.raises(CredentialError) as caught:
        load_service_account(raw)
    for chunk in key_chunks():
        assert chunk not in str(caught.value)
    return caught.value


def test_valid_file_loads_every_field():
    raw = service_account_json()

    account = load_service_account(raw, name="android-prod")

    assert account.name == "android-prod"
    assert (account.project_id, account.client_email) == (PROJECT_ID, CLIENT_EMAIL)
    assert (account.private_key_id, account.token_uri) == (PRIVATE_KEY_ID, TOKEN_URI)
    assert account.private_key.private_numbers() == rsa_key().private_numbers()
    assert account.raw == raw


def test_text_input_is_accepted_and_kept_as_utf8_bytes():
    raw = service_account_json().decode()

    account = load_service_account(raw)

    assert account.name == "default"
    assert account.raw == raw.encode()


def test_repr_and_summary_never_show_the_key():
    account = load_service_account(service_account_json())

    text = repr(account)
    summary = account.public_summary()

    assert "private_key=" not in text and "raw=" not in text
    assert summary == {
        "kind": "service_account",
        "name": "default",
        "project_id": PROJECT_ID,
        "client_email": CLIENT_EMAIL,
        "private_key_id": PRIVATE_KEY_ID,
        "fingerprint": account.fingerprint,
    }
    for chunk in key_chunks():
        assert chunk not in text and chunk not in str(summary)


def test_fingerprint_is_stable_and_depends_on_the_key():
    first = load_service_account(service_account_json())
    again = load_service_account(service_account_json(client_id="other"))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = load_service_account(service_account_json(private_key=pem(other_key)))

    assert len(first.fingerprint) == 16
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other.fingerprint


def test_missing_private_key_id_means_no_kid():
    account = load_service_account(service_account_json(private_key_id=None))

    assert account.private_key_id is None


def test_key_with_escaped_newlines_from_an_environment_variable_loads():
    escaped = pem(rsa_key()).replace("\n", "\\n")

    account = load_service_account(service_account_json(private_key=escaped))

    assert account.private_key.private_numbers() == rsa_key().private_numbers()


@pytest.mark.parametrize("raw", [b"", b"   ", b"not json {", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_unreadable_files(raw: bytes):
    error = load_error(raw)

    assert error.code == "unreadable_service_account"
    assert "Service accounts" in error.message


def test_oversized_file_is_refused():
    assert load_error(b" " * (1 << 20) + b"{}").code == "unreadable_service_account"


def test_user_credentials_are_the_wrong_type():
    raw = orjson.dumps({"type": "authorized_user", "client_id": "x", "refresh_token": "y"})

    error = load_error(raw)

    assert error.code == "wrong_credential_type"
    assert "gcloud" in error.message


def test_google_services_json_is_recognised():
    raw = orjson.dumps({"project_info": {"project_id": PROJECT_ID}, "client": [{}]})

    error = load_error(raw)

    assert error.code == "wrong_credential_type"
    assert "google-services.json" in error.message


def test_missing_type_is_the_wrong_type():
    assert load_error(service_account_json(type=None)).code == "wrong_credential_type"


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
@pytest.mark.parametrize("value", [None, "", "  ", 42])
def test_missing_or_empty_required_field_is_named(field: str, value: object):
    error = load_error(service_account_json(**{field: value}))

    assert error.code == "missing_field"
    assert repr(field) in error.message


@pytest.mark.parametrize(
    "private_key",
    [
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        "just text",
        pem(ec.generate_private_key(ec.SECP256R1())),
        rsa_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"password"),
        )
        .decode(),
    ],
    ids=["garbage-pem", "text", "ec-key", "encrypted-rsa"],
)
def test_private_key_that_is_not_a_plain_rsa_key(private_key: str):
    error = load_error(service_account_json(private_key=private_key))

    assert error.code == "unreadable_private_key"


@pytest.mark.parametrize("email", ["firebase-adminsdk", "a@b", "two@@x.com", "sp ace@x.com"])
def test_client_email_must_be_an_address(email: str):
    error = load_error(service_account_json(client_email=email))

    assert error.code == "invalid_client_email"


@pytest.mark.parametrize("project_id", ["my/project", "-leading", "has space", "p?x=1"])
def test_project_id_must_be_url_safe(project_id: str):
    assert load_error(service_account_json(project_id=project_id)).code == "invalid_project_id"


@pytest.mark.parametrize("project_id", ["my-project-123", "123456789012", "example.com:proj"])
def test_project_ids_and_numbers_load(project_id: str):
    assert load_service_account(service_account_json(project_id=project_id)).project_id == (
        project_id
    )


@pytest.mark.parametrize(
    "uri", ["http://oauth2.googleapis.com/token", "oauth2/token", "https://x /t"]
)
def test_token_uri_must_be_https(uri: str):
    assert load_error(service_account_json(token_uri=uri)).code == "invalid_token_uri"
