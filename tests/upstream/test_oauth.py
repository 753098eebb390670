"""compat's OAuth (segment-analytics-python's ``oauth_*`` options) against a local token
server: a signed JWT is exchanged for a bearer token, cached, refreshed before it expires,
and dropped when the API refuses it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from aioanalytics import ConfigError, compat
from tests.collector import Action, Collector
from tests.upstream._servers import TokenServer

serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, Any]:
    """A PEM private key and its public key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, private.public_key()


@pytest.fixture
def token_server(key_pair: tuple[str, Any]) -> Iterator[TokenServer]:
    with TokenServer(key_pair[1]) as server:
        yield server


def oauth_client(
    collector: Collector, token_server: TokenServer, pem: str, **options: Any
) -> compat.Client:
    return compat.Client(
        "key",
        host=collector.url,
        oauth_client_id="client-id",
        oauth_client_key=pem,
        oauth_key_id="key-id",
        oauth_auth_server=token_server.url,
        **options,
    )


def test_requests_carry_the_bearer_token_a_signed_jwt_bought(
    collector: Collector, token_server: TokenServer, key_pair: tuple[str, Any]
) -> None:
    """The token request is a client-credentials grant with an RS256 JWT (``kid``, issuer,
    subject and audience as segment-analytics-python signs them); every batch carries the
    one cached token instead of the write key."""
    client = oauth_client(collector, token_server, key_pair[0])
    client.track("u", "First")
    client.flush()
    client.track("u", "Second")
    client.shutdown()
    [request] = token_server.requests
    assert "error" not in request, request
    assert request["header"]["kid"] == "key-id"
    assert request["header"]["alg"] == "RS256"
    claims = request["claims"]
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        "client-id",
        "client-id",
        token_server.url,
    )
    assert claims["exp"] > claims["iat"]
    assert request["form"]["scope"] == "tracking_api:write"
    assert [r.headers["authorization"] for r in collector.requests] == ["Bearer token-1"] * 2
    assert [m["event"] for m in collector.accepted_messages] == ["First", "Second"]


def test_token_is_refreshed_before_it_expires(
    collector: Collector, key_pair: tuple[str, Any]
) -> None:
    """A token is replaced once half its lifetime has passed, before it expires."""
    with TokenServer(key_pair[1], expires_in=1) as token_server:
        client = oauth_client(collector, token_server, key_pair[0])
        client.track("u", "Early")
        client.flush()
        time.sleep(0.6)  # past half of the 1 s lifetime, before its end
        client.track("u", "Later")
        client.shutdown()
    assert [r.headers["authorization"] for r in collector.requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_token_refused_fails_the_batch_through_on_error(
    collector: Collector, token_server: TokenServer, key_pair: tuple[str, Any]
) -> None:
    """A token server that refuses (400) fails the batch at once: ``on_error`` gets an
    ``APIError`` with the status, nothing reaches the API, the token is asked for once."""
    errors: list[Exception] = []
    token_server.script = [400]
    client = oauth_client(
        collector, token_server, key_pair[0], on_error=lambda e, b: errors.append(e)
    )
    client.track("u", "Unauthorized")
    client.shutdown()
    assert [getattr(e, "status", None) for e in errors] == [400]
    assert collector.requests == []
    assert len(token_server.requests) == 1


def test_token_server_errors_are_retried(
    collector: Collector, token_server: TokenServer, key_pair: tuple[str, Any]
) -> None:
    """Two 500s from the token server, then a token: the batch is delivered."""
    errors: list[Exception] = []
    token_server.script = [500, 500]
    client = oauth_client(
        collector, token_server, key_pair[0], on_error=lambda e, b: errors.append(e)
    )
    client.track("u", "Recovered")
    client.shutdown()
    assert errors == []
    assert len(token_server.requests) == 3
    assert [m["event"] for m in collector.accepted_messages] == ["Recovered"]


def test_a_refused_token_is_dropped_and_511_retried(
    collector: Collector, token_server: TokenServer, key_pair: tuple[str, Any]
) -> None:
    """With OAuth, 511 is retried with a fresh token; a 401 drops the token too (the batch
    fails, as any 401), and the next batch gets a new one."""
    errors: list[Exception] = []
    collector.script(Action(511), Action(200), Action(401))
    client = oauth_client(
        collector, token_server, key_pair[0], on_error=lambda e, b: errors.append(e)
    )
    client.track("u", "Network Authentication")
    client.flush()
    client.track("u", "Unauthorized")
    client.flush()
    client.track("u", "Fresh Token")
    client.shutdown()
    assert [r.headers["authorization"] for r in collector.requests] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-2",
        "Bearer token-3",
    ]
    assert [getattr(e, "status", None) for e in errors] == [401]
    assert [m["event"] for m in collector.accepted_messages] == [
        "Network Authentication",
        "Fresh Token",
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"oauth_client_key": "badkey"},
        {"oauth_client_key": None},  # two of the three options
    ],
)
def test_bad_oauth_options_raise_config_error_at_once(options: dict[str, Any]) -> None:
    """A key that is not a PEM private key, or a missing option, raises ``ConfigError``
    when the client is made (segment-analytics-python failed at the first flush)."""
    settings = {"oauth_client_id": "id", "oauth_client_key": "k", "oauth_key_id": "kid"}
    with pytest.raises(ConfigError):
        compat.Client("key", **{**settings, **options})
