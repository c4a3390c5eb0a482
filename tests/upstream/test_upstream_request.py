import pytest

from lockgate.upstream.request import UpstreamRequest, encode_request, split_url


def test_split_url() -> None:
    assert split_url("http://h:8080/v1/chat?x=1") == ("http://h:8080", "/v1/chat?x=1")
    assert split_url("https://h") == ("https://h", "/")
    assert split_url("https://h?key=1") == ("https://h", "/?key=1")
    with pytest.raises(ValueError):
        split_url("/relative")


def test_encode_adds_framing_and_drops_callers_framing() -> None:
    req = UpstreamRequest(
        "POST",
        "http://h/x",
        [
            ("Authorization", "Bearer k"),
            ("Content-Length", "999"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
        ],
        b"hello",
    )
    head, rest = encode_request(req, "/x", "h:1")
    assert rest == b""
    assert head == (
        b"POST /x HTTP/1.1\r\nAuthorization: Bearer k\r\nHost: h:1\r\n"
        b"Accept-Encoding: identity\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
    )


def test_encode_keeps_callers_host_and_accept_encoding() -> None:
    req = UpstreamRequest("GET", "http://h/", [("Host", "vh"), ("Accept-Encoding", "gzip")])
    head, _ = encode_request(req, "/", "h")
    assert head == (
        b"GET / HTTP/1.1\r\nHost: vh\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n"
    )


def test_large_body_is_not_copied_into_the_head() -> None:
    body = b"x" * (300 * 1024)
    head, rest = encode_request(UpstreamRequest("POST", "http://h/", [], body), "/", "h")
    assert rest is body
    assert head.endswith(b"Content-Length: 307200\r\nConnection: keep-alive\r\n\r\n")


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("POST", "/", [("X-A", "v\r\nX-Injected: 1")]),
        ("POST", "/", [("X-A", "v\nX-Injected: 1")]),
        ("POST", "/", [("X-A\r\nEvil", "v")]),
        ("POST", "/x HTTP/1.1\r\nX: y", []),
        ("POST", "/a b", []),
        ("GET / HTTP/1.1\r\n", "/", []),
    ],
)
def test_encode_rejects_injection(method: str, target: str, headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError):
        encode_request(UpstreamRequest(method, "http://h/", headers), target, "h")


def test_encode_rejects_non_latin1() -> None:
    with pytest.raises(ValueError):
        encode_request(UpstreamRequest("GET", "http://h/", [("X", "\u2603")]), "/", "h")
