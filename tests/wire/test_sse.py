import pytest

from lockgate.wire.sse import EventTooLarge, SSEEvent, SSEParser, encode_event


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
    with pytest.raises(EventTooLarge, match="line exceeds 8 bytes"):
        p.feed(b"data: 0123456789")


def test_data_lines_of_one_event_are_bounded_together() -> None:
    p = SSEParser(max_event_bytes=80)
    assert p.feed(b"data: " + b"a" * 40 + b"\n\n") == [SSEEvent("a" * 40)]  # the count restarts
    p.feed(b"data: " + b"b" * 40 + b"\n")
    with pytest.raises(EventTooLarge, match="event exceeds 80 bytes"):
        p.feed(b"data: " + b"c" * 40 + b"\n")  # each line is short; together they are not


def test_encode_event() -> None:
    assert encode_event(b"{}") == b"data: {}\n\n"
    assert encode_event(b"{}", "ping") == b"event: ping\ndata: {}\n\n"
