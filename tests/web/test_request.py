"""Reading a request into its context: ip and proxies, page, locale, cookies, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioanalytics import ConfigError
from aioanalytics.web import ContextOptions, RequestContext, preferred_locale, read_request
from aioanalytics.web._request import MAX_FIELD


def read(
    headers: dict[str, str] | None = None,
    *,
    peer: str | None = "203.0.113.7",
    options: ContextOptions | None = None,
    path: str = "/shop/cart",
    query: str = "",
    scheme: str = "http",
) -> RequestContext:
    return read_request(
        options or ContextOptions(),
        peer=peer,
        scheme=scheme,
        host="10.0.0.1:8000",
        path=path,
        query=query,
        headers={"host": "shop.example", **(headers or {})},
    )


def test_reads_every_field_analytics_js_would_send() -> None:
    """ip, userAgent, page, locale, requestId and the cookie ids come from the request."""
    got = read(
        {
            "user-agent": "Mozilla/5.0",
            "referer": "https://search.example/?q=shoes",
            "accept-language": "fr-CH, fr;q=0.9, en;q=0.8",
            "cookie": "theme=dark; ajs_anonymous_id=%22anon-1%22; ajs_user_id=%22user-1%22",
            "x-request-id": "req-42",
        },
        query="size=9&color=red",
    )
    assert got.context == {
        "ip": "203.0.113.7",
        "userAgent": "Mozilla/5.0",
        "page": {
            "path": "/shop/cart",
            "search": "?size=9&color=red",
            "url": "http://shop.example/shop/cart?size=9&color=red",
            "referrer": "https://search.example/?q=shoes",
        },
        "locale": "fr-CH",
        "requestId": "req-42",
    }
    assert (got.user_id, got.anonymous_id) == ("user-1", "anon-1")


def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    """Anyone can send X-Forwarded-For: without a trusted proxy the peer is the client."""
    got = read({"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https"})
    assert got.context["ip"] == "203.0.113.7"
    assert got.context["page"]["url"].startswith("http://shop.example/")


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("x-forwarded-for", "198.51.100.9", "198.51.100.9"),
        # A forged first hop is skipped: the rightmost untrusted address is the client.
        ("x-forwarded-for", "6.6.6.6, 198.51.100.9, 10.0.0.5", "198.51.100.9"),
        ("x-forwarded-for", "10.0.0.9, 10.0.0.5", "10.0.0.9"),  # all trusted: the first
        ("forwarded", 'for=198.51.100.9;proto=https, for="10.0.0.5"', "198.51.100.9"),
        ("forwarded", 'for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("forwarded", "for=198.51.100.9:4711", "198.51.100.9"),
        ("x-forwarded-for", "unknown", None),  # no address: no ip rather than the proxy's
        ("forwarded", "for=_hidden", None),
    ],
)
def test_forwarding_headers_from_trusted_proxies(
    header: str, value: str, expected: str | None
) -> None:
    """Behind trusted proxies the chain is walked from the right to the first untrusted hop."""
    options = ContextOptions(trusted_proxies=["10.0.0.0/8"])
    got = read({header: value}, peer="10.0.0.2", options=options)
    assert got.context.get("ip") == expected


def test_trusted_proxy_sets_scheme_and_host_of_the_page() -> None:
    """X-Forwarded-Proto/-Host (or Forwarded proto/host) give the URL the browser used."""
    options = ContextOptions(trusted_proxies=["*"])
    got = read(
        {"x-forwarded-proto": "http, https", "x-forwarded-host": "www.example"},
        peer="192.0.2.1",
        options=options,
    )
    assert got.context["page"]["url"] == "https://www.example/shop/cart"
    got = read({"forwarded": "for=1.2.3.4;proto=https;host=a.example"}, peer="::1", options=options)
    assert got.context["page"]["url"] == "https://a.example/shop/cart"
    assert got.context["ip"] == "1.2.3.4"


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:cafe:1:2:3:4:5", "2001:db8:cafe::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
    ],
)
def test_anonymize_ip_keeps_the_network(peer: str, expected: str) -> None:
    """anonymize_ip keeps /24 of IPv4 and /48 of IPv6 (IPv4-mapped addresses as IPv4)."""
    assert read(peer=peer, options=ContextOptions(anonymize_ip=True)).context["ip"] == expected


def test_each_field_can_be_turned_off() -> None:
    """Fields turned off are not read; cookies=False leaves the ids alone."""
    options = ContextOptions(
        ip=False, user_agent=False, page=False, locale=False, request_id=False, cookies=False
    )
    got = read(
        {"user-agent": "UA", "accept-language": "en", "cookie": "ajs_user_id=u"},
        options=options,
    )
    assert got == RequestContext({})


def test_no_peer_no_ip() -> None:
    """A Unix-socket peer (no address) gives no ip."""
    assert "ip" not in read(peer=None).context


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        ("ajs_anonymous_id=%22a-1%22", "a-1"),  # analytics.js classic: URL-encoded JSON
        ('ajs_anonymous_id="a-1"', "a-1"),
        ("ajs_anonymous_id=a-1", "a-1"),  # analytics-next writes it bare
        ("ajs_anonymous_id=null", None),
        ("ajs_anonymous_id=%22%22", None),
        ("ajs_anonymous_id=%22unterminated", None),
        ("ajs_anonymous_id=%7B%7D", "{}"),
        ("ajs_anonymous_id=" + "x" * 300, None),  # longer than any id
        ("ajs_anonymous_id=%22a%0Ab%22", None),  # control characters
        ("ajs_anonymous_id=a-1; ajs_anonymous_id=a-2", "a-1"),
        ("xajs_anonymous_id=a-1", None),
    ],
)
def test_cookie_ids(cookie: str, expected: str | None) -> None:
    """The anonymous id cookie in each form analytics.js writes; anything odd is ignored."""
    assert read({"cookie": cookie}).anonymous_id == expected


def test_cookie_names_are_configurable() -> None:
    """Sites that renamed analytics.js's cookies name them here."""
    options = ContextOptions(anonymous_id_cookie="aid", user_id_cookie="uid")
    got = read({"cookie": "aid=a; uid=u; ajs_user_id=other"}, options=options)
    assert (got.user_id, got.anonymous_id) == ("u", "a")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr-CH"),
        ("en;q=0.5, de;q=0.9", "de"),
        ("*, en;q=0.1", "en"),
        ("en;q=0, de;q=0.1", "de"),
        ("en;q=abc", None),
        ("", None),
        ("*", None),
        ("pt_BR", "pt_BR"),
        ("<script>", None),
    ],
)
def test_preferred_locale(value: str, expected: str | None) -> None:
    """The highest-q language tag wins; the first on ties; wildcards and junk never."""
    assert preferred_locale(value) == expected


def test_request_id_from_the_header_or_new() -> None:
    """A header that looks like an id is kept; otherwise each request gets a fresh one."""
    assert read({"x-request-id": "abc-123"}).context["requestId"] == "abc-123"
    made = {read({"x-request-id": "bad id with spaces"}).context["requestId"] for _ in range(3)}
    assert len(made) == 3 and all(len(value) == 32 for value in made)
    options = ContextOptions(request_id_header="X-Trace")
    assert read({"x-trace": "t-1"}, options=options).context["requestId"] == "t-1"


def test_header_values_are_cut_to_a_bound() -> None:
    """No header can push a message over the 32 KiB limit: each field is cut."""
    huge = "x" * 100_000
    got = read({"user-agent": huge, "referer": huge}, path="/" + huge, query=huge)
    page = got.context["page"]
    assert len(got.context["userAgent"]) == MAX_FIELD
    assert all(len(page[key]) == MAX_FIELD for key in ("path", "search", "url", "referrer"))


def test_page_without_host_header_uses_the_server() -> None:
    """HTTP/1.0 without Host: the server's own address names the page."""
    got = read_request(
        ContextOptions(),
        peer="1.2.3.4",
        scheme="wss",
        host="10.0.0.1:80",
        path="",
        query="",
        headers={},
    )
    assert got.context["page"] == {"path": "/", "search": "", "url": "https://10.0.0.1:80/"}


def test_bad_options_fail_at_construction() -> None:
    """A trusted proxy that is no address is a ConfigError, as is a bare string."""
    with pytest.raises(ConfigError, match="not an address"):
        ContextOptions(trusted_proxies=["proxy.internal"])
    with pytest.raises(ConfigError, match="list"):
        ContextOptions(trusted_proxies="10.0.0.1")


HEADER_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=80)


@given(
    headers=st.dictionaries(
        st.sampled_from(sorted(ContextOptions().headers())), HEADER_TEXT, max_size=10
    ),
    peer=st.one_of(st.none(), HEADER_TEXT, st.ip_addresses().map(str)),
    path=HEADER_TEXT,
    query=HEADER_TEXT,
)
@settings(max_examples=300, deadline=None)
def test_any_request_reads_without_raising(
    headers: dict[str, str], peer: str | None, path: str, query: str
) -> None:
    """Whatever a client sends, reading it never raises, and ids are printable strings."""
    options = ContextOptions(trusted_proxies=["*"], anonymize_ip=True)
    got = read_request(
        options, peer=peer, scheme="http", host=None, path=path, query=query, headers=headers
    )
    for value in (got.user_id, got.anonymous_id):
        assert value is None or (value.isprintable() and 0 < len(value) <= 256)
    assert set(got.context) <= {"ip", "userAgent", "page", "locale", "requestId"}
