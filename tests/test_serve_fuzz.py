"""Property-based fuzzing of the real server (package or binary) on loopback: random JSON bodies,
headers and query strings over HTTP, random Wyoming event streams with truncated and oversized
frames. Whatever comes in, the answer is a 2xx/4xx or a Wyoming `error`, never a 500, a
traceback or a dead handler; and the server's memory is back near where it was.

Bounded to about a minute: the examples are few and short (a fuzzer that runs for hours is
`just fuzz`), the texts short enough that each synthesis takes a fraction of a second."""

import json
import socket
import string
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_serve import Server, free_port, post, start, stop

FIELDS = ["text", "voice", "speaker", "speaker_id", "length_scale", "noise_scale", "noise_w_scale",
          "sentence_silence"]
ANSWERS = {"info", "audio-start", "audio-chunk", "audio-stop", "synthesize-stopped", "error"}
SHORT_TEXT = st.text(alphabet=st.sampled_from([*string.printable, "é", "²", "€", "\u202e", "\x00", "日"]),
                     max_size=24)
SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.integers(10**20, 10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | SHORT_TEXT | st.sampled_from(["1", "²", "-1", "1e400"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SHORT_TEXT, inner, max_size=3),
                    max_leaves=6)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Its own server with the default voice only (a fuzzed voice name loads nothing), warmed up,
    and short timeouts so a fuzzed connection that hangs on ends soon."""
    wyoming, web = free_port(), free_port()
    s = start(tmp_path_factory.mktemp("fuzz"), "--uri", f"tcp://127.0.0.1:{wyoming}", "--http",
              f"127.0.0.1:{web}", "--workers", "2", "--threads", "1", "--idle-timeout", "2",
              "--header-timeout", "2", "--client-timeout", "5")
    s.wyoming, s.http = wyoming, web
    for text in ("Hello.", "The kitchen light is on.", "It is twenty degrees outside.") * 4:
        assert post(web, {"text": text})[0] == 200
    s.extra["baseline_kb"] = str(s.rss_kb())
    yield s
    assert stop(s) == 0, s.log()[-3000:]


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


def exchange(port: int, data: bytes, timeout: float = 60) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer


HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@st.composite
def http_requests(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "json", "bytes", "get"]))
    fields = draw(st.dictionaries(st.sampled_from(FIELDS) | SHORT_TEXT, JSON, max_size=5))
    if draw(st.booleans()):
        fields["text"] = draw(SHORT_TEXT)
    query = draw(st.sampled_from(["", "?stream=wav", "?stream=pcm", "?stream=", "?stream=%00", "?x=1&stream=mp3"]))
    headers = draw(st.dictionaries(st.sampled_from(["Content-Type", "Origin", "Accept", "X-Any", "Transfer-Encoding"]),
                                   HEADER_VALUE | st.sampled_from(["application/json; charset=bogus", "chunked",
                                                                   "http://127.0.0.1"]), max_size=3))
    headers.pop("Transfer-Encoding", None)  # a framing header of our own would only desync this client
    if kind == "get":
        path = draw(st.sampled_from(["/info", "/voices", "/synthesize", "/", "/../etc/passwd", "/info?x=%ff"]))
        return request_bytes("GET", path, headers, b"")
    body = json.dumps(fields, allow_nan=True).encode() if kind == "json" else draw(st.binary(max_size=300))
    return request_bytes("POST", "/synthesize" + query, headers, body)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=http_requests())
def test_http_fuzz_never_a_500(server: Server, data: bytes) -> None:
    answer = exchange(server.http, data)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 "), answer[:200]
    status = int(status_line[9:12])
    assert 200 <= status < 500, answer[:400]


@st.composite
def wyoming_streams(draw: st.DrawFn) -> bytes:
    frames = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["event", "event", "event", "garbage", "oversized", "truncated"]))
        event_type = draw(st.sampled_from(["describe", "synthesize", "synthesize-start", "synthesize-chunk",
                                           "synthesize-stop", "ping", "audio-chunk", "transcribe"]) | SHORT_TEXT)
        data = draw(st.dictionaries(st.sampled_from(["text", "voice", "name", "speaker"]) | SHORT_TEXT, JSON,
                                    max_size=3))
        if draw(st.booleans()):
            data["text"] = draw(SHORT_TEXT)
        if kind == "event":
            extra = json.dumps(data, allow_nan=True).encode() if draw(st.booleans()) else b""
            header = {"type": event_type, "data_length": len(extra)} if extra else {"type": event_type, "data": data}
            frames.append(json.dumps(header, allow_nan=True).encode() + b"\n" + extra)
        elif kind == "garbage":
            frames.append(draw(st.binary(max_size=80)) + b"\n")
        elif kind == "oversized":
            frames.append(json.dumps({"type": event_type, draw(st.sampled_from(["data_length", "payload_length"])):
                                      draw(st.integers(2**20 + 1, 2**62))}).encode() + b"\n")
        else:  # claims more than it sends, then the stream goes on with other events
            frames.append(json.dumps({"type": event_type, "data_length": 50}).encode() + b"\n{\"te")
    return b"".join(frames) + b'{"type": "describe"}\n'


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=wyoming_streams())
def test_wyoming_fuzz_answers_only_with_events_or_an_error(server: Server, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.wyoming), timeout=60) as s:
        s.sendall(data)
        reader = s.makefile("rb")
        while line := reader.readline():  # until the final describe is answered, or the server closes
            header = json.loads(line)
            assert header["type"] in ANSWERS, header
            for key in ("data_length", "payload_length"):
                reader.read(header.get(key) or 0)
            if header["type"] == "info":
                break


def test_after_the_fuzz_the_server_is_whole(server: Server) -> None:
    """Runs after the two above (file order): no traceback was logged, every connection handler
    still answers, and memory is back within 10 % of the warmed-up baseline."""
    log = server.log()
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]
    assert post(server.http, {"text": "Still here."})[0] == 200
    baseline = int(server.extra["baseline_kb"])
    deadline = time.monotonic() + 10
    while server.rss_kb() > baseline * 1.10 and time.monotonic() < deadline:
        time.sleep(0.5)  # a last synthesis' buffers going back to the pool
    assert server.rss_kb() <= baseline * 1.10, (baseline, server.rss_kb())


