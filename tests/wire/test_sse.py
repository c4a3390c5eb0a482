from lockgate.wire.sse import SSEEvent, SSEParser, encode_event


def test_events_split_across_feeds_and_line_endings() -> None:
    p = SSEParser()
    out = p.feed(b"event: a\r")
    out += p.feed(b'\ndata: {"x":')
    out += p.feed(b"1}\r\n\r\ndata: two\n")
    out += p.feed(b"data: lines\n\n: comment\n\n")
    assert out == [SSEEvent('{"x":1}', "a"), SSEEvent("two\nlines", None)]


def test_close_flushes_last_event_and_ignores_empty() -> None:
    p = SSEParser()
    assert p.feed(b"event: ping\n\n") == []
    assert p.feed(b"data: [DONE]") == []
    assert p.close() == [SSEEvent("[DONE]")]


def test_oversized_line_is_rejected() -> None:
    p = SSEParser(max_event_bytes=8)
    try:
        p.feed(b"data: 0123456789")
    except ValueError as e:
        assert "size limit" in str(e)
    else:
        raise AssertionError("expected a size error")


def test_encode_event() -> None:
    assert encode_event(b"{}") == b"data: {}\n\n"
    assert encode_event(b"{}", "ping") == b"event: ping\ndata: {}\n\n"
