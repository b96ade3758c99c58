"""Access-log formats: the real shared log, each format, hostile lines, auto-detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.demo.seed import SAMPLE_LOG  # noqa: E402
from portal.ingest.formats import detect_format, log_parser, parse_lines, parse_one
from portal.ingest.logline import LogLine
from portal.ingest.rejections import REASONS, Limits, LineRejected, Rejection
from portal.ingest.searchterms import search_term
from portal.ingest.sources import RawLine, read_lines

combined = log_parser("combined")
combined_cookie = log_parser("combined_cookie")
jsonl = log_parser("jsonl")

LINE = (
    b'83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/'
    b'images/kibana-search.png?x=1 HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/" '
    b'"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) '
    b'Chrome/32.0.1700.77 Safari/537.36"'
)


def shared_log() -> Path:
    if not SAMPLE_LOG.exists():
        pytest.fail(f"sample log missing: {SAMPLE_LOG}")
    return SAMPLE_LOG


def rejection(parse, raw: bytes) -> str:
    result = parse_one(parse, raw)
    assert isinstance(result, Rejection), result
    return result.reason


# --- the real log -----------------------------------------------------------------------------


def test_real_log_parses_with_zero_rejections() -> None:
    with shared_log().open("rb") as f:
        results = list(parse_lines(read_lines(f), combined))
    rejected = [(line.number, r) for line, r in results if isinstance(r, Rejection)]
    assert rejected == []
    assert len(results) == 10_000
    records = [r for _, r in results]
    assert all(isinstance(r, LogLine) and r.time.tzinfo is UTC for r in records)
    assert records[0].time == datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)
    assert {r.method for r in records} >= {"GET", "HEAD", "OPTIONS"}
    assert {r.status for r in records} >= {200, 206, 304, 404, 416}


def test_real_log_line_cut_inside_its_last_field_is_kept_as_logged() -> None:
    # Line 8899 of the shared sample ends inside the user agent, without the closing quote.
    with shared_log().open("rb") as f:
        line = next(line for line in read_lines(f) if line.number == 8899)
    record = combined(line.data)
    assert record.user_agent == "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"
    assert record.status == 200 and record.path == "/scripts/grok-py-test/configlib.py"


def test_search_terms_of_the_real_log() -> None:
    with shared_log().open("rb") as f:
        records = [r for _, r in parse_lines(read_lines(f), combined)]
    with_q = [r for r in records if r.referrer and "q=" in r.referrer]
    assert len(with_q) == 301  # the README's "about 300"; most are Google redirects with q= empty
    terms = [t for r in records if (t := search_term(r.referrer)) is not None]
    assert len(terms) == 69
    engines = {engine for engine, _ in terms}
    assert engines == {"Google", "Bing", "Baidu", "Yandex"}
    assert ("Google", "the logstash book pdf") in terms
    assert ("Google", "proxy 50na50") in terms
    assert ("Bing", "http vs https latency") in terms
    assert ("Yandex", "socks5 proxy 50") in terms
    assert ("Baidu", "TSIG error with server: tsig indicates error") in terms
    assert terms.count(("Google", "rage face")) == 4


# --- combined ---------------------------------------------------------------------------------


def test_combined_fields() -> None:
    r = combined(LINE)
    assert r == LogLine(
        time=datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC),
        ip="83.149.9.216",
        remote_user=None,
        method="GET",
        path="/presentations/logstash-monitorama-2013/images/kibana-search.png?x=1",
        protocol="HTTP/1.1",
        status=200,
        bytes=203023,
        referrer="http://semicomplete.com/presentations/",
        user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/32.0.1700.77 Safari/537.36",
        cookie=None,
    )


def test_combined_dashes_offsets_ipv6_and_users() -> None:
    r = combined(b'2001:DB8::1 - alice [17/May/2015:12:05:03 +0200] "HEAD / HTTP/1.0" 304 - "-" "-"')
    assert r.ip == "2001:db8::1"
    assert r.remote_user == "alice"
    assert r.time == datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)
    assert (r.bytes, r.referrer, r.user_agent) == (None, None, None)
    west = combined(b'1.2.3.4 - - [31/Dec/2015:23:30:00 -0130] "GET / HTTP/1.1" 200 1 "-" "-"')
    assert west.time == datetime(2016, 1, 1, 1, 0, 0, tzinfo=UTC)


def test_combined_request_line_variants() -> None:
    def request(req: bytes) -> tuple[str | None, str | None, str | None]:
        r = combined(b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "' + req + b'" 400 0 "-" "-"')
        return r.method, r.path, r.protocol

    assert request(b"-") == (None, None, None)  # Apache's "no request" (408)
    assert request(b"GET /old") == ("GET", "/old", None)  # HTTP/0.9
    assert request(b"GET /a b HTTP/1.1") == ("GET", "/a b", "HTTP/1.1")  # raw space kept
    assert request(b"M-SEARCH * HTTP/1.1") == ("M-SEARCH", "*", "HTTP/1.1")
    line = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "\\x16\\x03\\x01\\x00" 400 0 "-" "-"'
    assert rejection(combined, line) == "bad_request"  # a TLS handshake sent to port 80


def test_apache_escapes_are_kept_verbatim() -> None:
    line = (
        b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a\\"b HTTP/1.1" 200 5 "-" '
        b'"Agent \\"quoted\\" \\\\ and \\xc3\\xa9"'
    )
    r = combined(line)
    assert r.path == '/a\\"b'
    assert r.user_agent == 'Agent \\"quoted\\" \\\\ and \\xc3\\xa9'


def test_combined_cookie() -> None:
    line = LINE + b' "site_id=abc123; search_pref=cheap+flights; _ga=GA1.2.3"'
    r = combined_cookie(line)
    assert r.cookie == "site_id=abc123; search_pref=cheap+flights; _ga=GA1.2.3"
    assert r.user_agent is not None and r.user_agent.endswith("Safari/537.36")
    assert combined_cookie(LINE + b' "-"').cookie is None
    assert rejection(combined, line) == "malformed"
    assert rejection(combined_cookie, LINE) == "malformed"


# --- jsonl ------------------------------------------------------------------------------------


def jline(**fields: object) -> bytes:
    base: dict[str, object] = {
        "time_iso8601": "2024-03-01T10:00:00+01:00",
        "remote_addr": "203.0.113.7",
        "request": "GET /search?q=x HTTP/2.0",
        "status": "200",
        "body_bytes_sent": "512",
        "http_referer": "https://www.google.de/search?q=flights",
        "http_user_agent": "curl/8.0",
        "http_cookie": "search_pref=flights",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_jsonl_nginx_escape_json() -> None:
    r = jsonl(jline())
    assert r.time == datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
    assert (r.ip, r.method, r.path, r.protocol) == ("203.0.113.7", "GET", "/search?q=x", "HTTP/2.0")
    assert (r.status, r.bytes, r.cookie) == (200, 512, "search_pref=flights")


def test_jsonl_aliases_and_separate_request_parts() -> None:
    raw = json.dumps(
        {
            "timestamp": 1709283600,
            "ip": "::1",
            "method": "POST",
            "uri": "/login",
            "protocol": "HTTP/1.1",
            "status": 302,
            "bytes": 0,
            "referer": "",
            "user_agent": "-",
        }
    ).encode()
    r = jsonl(raw)
    assert r.time == datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
    assert (r.ip, r.method, r.path, r.status, r.bytes) == ("::1", "POST", "/login", 302, 0)
    assert (r.referrer, r.user_agent, r.cookie) == (None, None, None)
    assert jsonl(jline(time_iso8601=None, time_local="17/May/2015:10:05:03 +0000")).time.year == 2015
    assert jsonl(jline(time_iso8601=None, msec="1709283600.123")).time.microsecond == 123000


def test_jsonl_cr_lf_and_script_in_user_agent_are_kept_as_data() -> None:
    hostile = "<script>alert(1)</script>\r\nSet-Cookie: x=1"
    assert jsonl(jline(http_user_agent=hostile)).user_agent == hostile


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b"[" * 5000 + b"]" * 5000, "bad_json"),
        (jline(time_iso8601="2024-03-01T10:00:00"), "bad_time"),  # no offset: not guessed
        (jline(time_iso8601="yesterday"), "bad_time"),
        (jline(time_iso8601=None), "missing_field"),
        (jline(remote_addr="localhost"), "bad_ip"),
        (jline(status="OK"), "bad_field"),
        (jline(status=None), "missing_field"),
        (jline(body_bytes_sent=-5), "bad_field"),
        (jline(http_user_agent=["a"]), "bad_field"),
        (jline(http_user_agent="a\x00b"), "binary"),
        (jline(http_user_agent="x" * 9000), "field_too_long"),
        (jline(request="\x16\x03"), "bad_request"),
    ],
)
def test_jsonl_rejections(raw: bytes, reason: str) -> None:
    assert rejection(jsonl, raw) == reason


# --- hostile lines ----------------------------------------------------------------------------

HEAD = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" '


def test_script_in_user_agent_is_kept_verbatim() -> None:
    assert combined(HEAD + b'"<script>alert(1)</script>"').user_agent == "<script>alert(1)</script>"


def test_raw_cr_inside_a_combined_line_is_rejected() -> None:
    # Apache and nginx write CR as \r or \x0d, so a raw one means the line was not written by them.
    assert rejection(combined, HEAD + b'"evil\rSet-Cookie: x"') == "binary"


def test_raw_lf_inside_a_user_agent_ends_the_line_and_the_rest_is_rejected() -> None:
    import io

    # A raw LF ends a log line, whatever its writer meant. The first part is a line cut inside its
    # last field (kept as logged, like line 8899 of the shared sample); the rest is quarantined.
    data = HEAD + b'"evil\nSet-Cookie: x"\n' + LINE + b"\n"
    results = list(parse_lines(read_lines(io.BytesIO(data)), combined))
    first, second, third = (r for _, r in results)
    assert isinstance(first, LogLine) and first.user_agent == "evil"
    assert second == Rejection("malformed", "not a combined line")
    assert isinstance(third, LogLine)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (HEAD + b'"Mozilla \xff\xfe"', "invalid_utf8"),
        (HEAD + b'"caf\xc3"', "invalid_utf8"),
        (bytes(range(256)) * 4, "binary"),
        (b"\x00\x01\x02\x03PK\x03\x04\x14\x00\x08\x00" * 10, "binary"),
        (b"GET / HTTP/1.1", "malformed"),
        (LINE[:40], "malformed"),
        (LINE[:100], "malformed"),
        (b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200', "malformed"),
        (HEAD.replace(b"17/May", b"32/May") + b'"-"', "bad_time"),
        (HEAD.replace(b"May", b"Foo") + b'"-"', "bad_time"),
        (HEAD.replace(b"+0000", b"+2500") + b'"-"', "bad_time"),
        (HEAD.replace(b"17/May/2015:10:05:03 +0000", b"yesterday") + b'"-"', "bad_time"),
        (HEAD.replace(b"1.2.3.4", b"999.1.1.1") + b'"-"', "bad_ip"),
        (HEAD.replace(b"1.2.3.4", b"example.com") + b'"-"', "bad_ip"),
        (HEAD.replace(b"1.2.3.4", b"01.2.3.4") + b'"-"', "bad_ip"),
        (HEAD + b'"' + b"A" * 10_000 + b'"', "field_too_long"),
        (HEAD.replace(b"GET /", b"GET /" + b"a" * 9000) + b'"-"', "field_too_long"),
        (HEAD + b'"' + b"A" * 20_000 + b'"', "too_long"),
        (HEAD.replace(b"200 5", b"200 " + b"9" * 40) + b'"-"', "malformed"),
        (HEAD.replace(b"200 5", b"200 " + b"9" * 19) + b'"-"', "malformed"),  # more than 2**63 - 1
    ],
)
def test_hostile_combined_lines(raw: bytes, reason: str) -> None:
    assert rejection(combined, raw) == reason


def test_limits_are_configurable() -> None:
    strict = log_parser("combined", Limits(max_line_bytes=100, max_field_chars=50))
    assert rejection(strict, LINE) == "too_long"
    assert rejection(log_parser("combined", Limits(max_field_chars=60)), LINE) == "field_too_long"


def test_a_megabyte_line_is_too_long_and_the_next_line_still_parses() -> None:
    import io

    data = HEAD + b'"' + b"A" * 1_000_000 + b'"\n' + LINE + b"\n"
    results = list(parse_lines(read_lines(io.BytesIO(data)), combined))
    assert isinstance(results[0][1], Rejection) and results[0][1].reason == "too_long"
    assert results[0][0].length == len(data.split(b"\n")[0])
    assert isinstance(results[1][1], LogLine) and results[1][0].number == 2


def test_blank_line_is_reported_not_skipped() -> None:
    results = list(parse_lines([RawLine(1, 0, b"", 0, True, 1)], combined))
    assert results[0][1] == Rejection("malformed", "empty line")


def test_a_parser_bug_becomes_a_rejection() -> None:
    def broken(raw: bytes) -> LogLine:
        raise KeyError("oops")

    assert parse_one(broken, b"x") == Rejection("parser_error", "KeyError: 'oops'")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_line_rejected(raw: bytes) -> None:
    for parse in (combined, combined_cookie, jsonl):
        try:
            parse(raw)
        except LineRejected as exc:
            assert exc.rejection.reason in REASONS


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(LINE)), st.binary(min_size=1, max_size=3))
def test_mutated_real_lines_only_ever_raise_line_rejected(position: int, junk: bytes) -> None:
    raw = LINE[:position] + junk + LINE[position:]
    try:
        combined(raw)
    except LineRejected as exc:
        assert exc.rejection.reason in REASONS


# --- detection --------------------------------------------------------------------------------


def test_detect_each_format() -> None:
    events = b'{"type": "account", "site_user_id": "u1", "email": "a@example.org", "adult_verified": true}'
    assert detect_format([LINE, LINE]) == "combined"
    assert detect_format([LINE + b' "site_id=1"', LINE + b' "-"']) == "combined_cookie"
    assert detect_format([jline(), jline()]) == "jsonl"
    assert detect_format([events]) == "events"
    assert detect_format([b"hello", b"world"]) is None
    assert detect_format([]) is None


def test_detect_tolerates_a_bad_first_line_and_newlines() -> None:
    assert detect_format([b"garbage\n", LINE + b"\r\n", LINE + b"\n"]) == "combined"


def test_detect_on_the_real_log() -> None:
    with shared_log().open("rb") as f:
        head = [next(f) for _ in range(20)]
    assert detect_format(head) == "combined"


# --- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01T10:00:00.250-05:00", datetime(2024, 3, 1, 15, 0, 0, 250_000, tzinfo=UTC)),
        ("[01/Mar/2024:10:00:00 +0100]", datetime(2024, 3, 1, 9, tzinfo=UTC)),
        (1709287200, datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("1709287200.5", datetime(2024, 3, 1, 10, 0, 0, 500_000, tzinfo=UTC)),
    ],
)
def test_json_times(value: object, expected: datetime) -> None:
    from portal.ingest.times import any_time

    assert any_time(value) == expected
    assert any_time(value) == expected  # and again from the cache


@pytest.mark.parametrize("value", [True, 1e20, -1, float("nan"), "", "x" * 100, "2024-13-01T00:00:00Z", [1]])
def test_bad_json_times(value: object) -> None:
    from portal.ingest.times import any_time

    with pytest.raises(LineRejected) as caught:
        any_time(value)
    assert caught.value.rejection.reason == "bad_time"
