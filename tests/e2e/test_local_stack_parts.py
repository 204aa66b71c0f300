"""The local stack's own parts, with fake handlers: the gateway (API Gateway v2 payload 2.0
events and responses, the JWT authorizer, limits, CORS), the Lambda runtime shim and the SQS
worker runner (batches, partial failures, redelivery, DLQ) against the stack's moto server."""

from __future__ import annotations

import base64
import http.client
import json
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.definitions import SCOPE_READ, SCOPE_WRITE, FunctionDef, RouteDef
from intake_local.gateway import Gateway, map_response
from intake_local.lambda_runtime import LocalFunction, load_function
from intake_local.tokens import (
    JwtAuthorizer,
    KeyPair,
    TokenRejected,
    ensure_key_pair,
    generate_key_pair,
    issue_token,
    stringify_claims,
)
from intake_local.worker_runner import WorkerRunner, _failed_ids
from tests.e2e.support import Stack, eventually

FAKE = FunctionDef("fake_api", "a fake handler", timeout_seconds=3, memory_mb=128)

FAKE_HANDLER = """
import base64, json

def lambda_handler(event, context):
    route = event["routeKey"]
    if route == "GET /boom":
        raise RuntimeError("boom")
    if route == "GET /plain":
        return {"hello": "world"}
    if route == "GET /text":
        return "hello"
    if route == "GET /bad":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if route == "GET /binary":
        return {"statusCode": 200, "headers": {"content-type": "image/png"},
                "body": base64.b64encode(b"\\x89PNG\\x00").decode(), "isBase64Encoded": True}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-fake": 1},
        "cookies": ["session=abc; Path=/", "theme=dark"],
        "body": json.dumps({
            "event": event,
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining": context.get_remaining_time_in_millis(),
            },
        }),
    }
"""

ROUTES = (
    RouteDef("POST", "/things/{thing_id}", FAKE, (SCOPE_WRITE,)),
    RouteDef("GET", "/things/special", FAKE, (SCOPE_READ,)),
    RouteDef("GET", "/things/{thing_id}", FAKE, (SCOPE_READ,)),
    RouteDef("GET", "/proxy/{path+}", FAKE),
    RouteDef("GET", "/open", FAKE),
    RouteDef("GET", "/boom", FAKE),
    RouteDef("GET", "/plain", FAKE),
    RouteDef("GET", "/text", FAKE),
    RouteDef("GET", "/bad", FAKE),
    RouteDef("GET", "/binary", FAKE),
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return ensure_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, keys: KeyPair) -> Iterator[Gateway]:
    functions_dir = tmp_path_factory.mktemp("functions")
    (functions_dir / FAKE.name).mkdir()
    (functions_dir / FAKE.name / "handler.py").write_text(textwrap.dedent(FAKE_HANDLER))
    function = load_function(FAKE, functions_dir)
    gw = Gateway(
        ROUTES, {FAKE.name: function}, JwtAuthorizer(keys.public_pem), port=0, max_body=1024
    )
    gw.start()
    yield gw
    gw.stop()


def _auth(keys: KeyPair, *scopes: str, **claims: Any) -> dict[str, str]:
    token = issue_token(keys, tenant="acme", scopes=scopes or (SCOPE_READ, SCOPE_WRITE), **claims)
    return {"Authorization": f"Bearer {token}"}


# --- events ------------------------------------------------------------------------------


def test_the_event_is_api_gateway_payload_2(gateway: Gateway, keys: KeyPair) -> None:
    # http.client, since requests cannot send a header twice
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.putrequest("POST", "/things/a%20b?x=1&x=2&empty=")
    for name, value in [
        *_auth(keys).items(),
        ("X-Multi", "one"),
        ("X-Multi", "two"),
        ("Cookie", "a=1; b=2"),
        ("Content-Type", "application/json"),
        ("User-Agent", "e2e-test"),
        ("Content-Length", "10"),
    ]:
        conn.putheader(name, value)
    conn.endheaders(b'{"k": "v"}')
    answer = conn.getresponse()
    assert answer.status == 200
    payload = json.loads(answer.read())
    conn.close()
    event = payload["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /things/{thing_id}"
    assert event["rawPath"] == "/things/a%20b"
    assert event["rawQueryString"] == "x=1&x=2&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"thing_id": "a b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["content-type"] == "application/json"
    assert event["body"] == '{"k": "v"}'
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["http"] == {
        "method": "POST",
        "path": "/things/a%20b",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "e2e-test",
    }
    assert ctx["routeKey"] == "POST /things/{thing_id}"
    assert ctx["stage"] == "$default"
    assert ctx["accountId"] and ctx["apiId"] and ctx["requestId"]
    assert ctx["domainName"] == "127.0.0.1"
    assert isinstance(ctx["timeEpoch"], int)
    claims = ctx["authorizer"]["jwt"]["claims"]
    assert claims["tenant"] == "acme"
    assert claims["iss"] == "intake-local"
    assert claims["aud"] == "intake"
    assert all(isinstance(v, str) for v in claims.values())  # API Gateway stringifies
    assert claims["exp"].isdigit()
    assert ctx["authorizer"]["jwt"]["scopes"] == [SCOPE_READ, SCOPE_WRITE]
    # The Lambda context
    context = payload["context"]
    assert context["function_name"] == "intake-local-fake_api"
    assert context["memory_limit_in_mb"] == 128
    assert context["invoked_function_arn"].endswith(":function:intake-local-fake_api")
    assert uuid.UUID(context["aws_request_id"])
    assert 0 < context["remaining"] <= 3000


def test_binary_bodies_are_base64_encoded(gateway: Gateway, keys: KeyPair) -> None:
    body = bytes(range(200))
    response = requests.post(
        f"{gateway.url}/things/x",
        headers={**_auth(keys), "Content-Type": "application/octet-stream"},
        data=body,
        timeout=10,
    )
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_routes_match_like_api_gateway(gateway: Gateway, keys: KeyPair) -> None:
    special = requests.get(f"{gateway.url}/things/special", headers=_auth(keys), timeout=10)
    assert special.json()["event"]["routeKey"] == "GET /things/special"
    proxied = requests.get(f"{gateway.url}/proxy/a/b/c", timeout=10).json()["event"]
    assert proxied["pathParameters"] == {"path": "a/b/c"}
    assert "authorizer" not in proxied["requestContext"]  # a route without scopes
    assert "queryStringParameters" not in proxied and "body" not in proxied
    missing = requests.get(f"{gateway.url}/things", headers=_auth(keys), timeout=10)
    # API Gateway's own body, not the functions' envelope: what production sends
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    assert requests.put(f"{gateway.url}/open", timeout=10).status_code == 404


# --- responses ---------------------------------------------------------------------------


def test_the_response_is_mapped_back(gateway: Gateway) -> None:
    response = requests.get(f"{gateway.url}/open", timeout=10)
    assert response.status_code == 200
    assert response.headers["x-fake"] == "1"
    assert response.headers["apigw-requestid"]
    assert response.raw.headers.getlist("set-cookie") == ["session=abc; Path=/", "theme=dark"]
    binary = requests.get(f"{gateway.url}/binary", timeout=10)
    assert binary.content == b"\x89PNG\x00"
    assert binary.headers["content-type"] == "image/png"


def test_a_plain_return_value_is_a_200_json_body(gateway: Gateway) -> None:
    plain = requests.get(f"{gateway.url}/plain", timeout=10)
    assert (plain.status_code, plain.json()) == (200, {"hello": "world"})
    assert plain.headers["content-type"] == "application/json"
    text = requests.get(f"{gateway.url}/text", timeout=10)
    assert (text.status_code, text.json()) == (200, "hello")


def test_a_function_error_or_a_malformed_answer_is_a_500(gateway: Gateway) -> None:
    for path in ("/boom", "/bad"):
        response = requests.get(f"{gateway.url}{path}", timeout=10)
        assert response.status_code == 500
        assert response.json() == {"message": "Internal Server Error"}
        assert "boom" not in response.text


def test_map_response_rejects_what_api_gateway_rejects() -> None:
    with pytest.raises(ValueError):
        map_response({"statusCode": "abc"})
    with pytest.raises(ValueError):
        map_response({"statusCode": 200, "body": "%%%", "isBase64Encoded": True})
    assert map_response({"statusCode": 204}).body == b""
    assert map_response(None).body == b"null"


# --- limits, CORS, auth ------------------------------------------------------------------


def test_bodies_over_the_limit_are_413(gateway: Gateway, keys: KeyPair) -> None:
    too_big = requests.post(
        f"{gateway.url}/things/x", headers=_auth(keys), data=b"x" * 1025, timeout=10
    )
    assert (too_big.status_code, too_big.json()) == (413, {"message": "Request Entity Too Large"})

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"y" * 300

    chunked = requests.post(
        f"{gateway.url}/things/x", headers=_auth(keys), data=chunks(), timeout=10
    )
    assert chunked.status_code == 413
    fits = requests.post(
        f"{gateway.url}/things/x", headers=_auth(keys), data=b"z" * 1024, timeout=10
    )
    assert fits.status_code == 200


def test_preflight_is_answered_without_the_function(gateway: Gateway) -> None:
    response = requests.options(
        f"{gateway.url}/things/x",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert {"GET", "POST"} <= set(response.headers["access-control-allow-methods"].split(","))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer x.y.z"}, 401),
        ({"Authorization": f"Bearer {issue_token(generate_key_pair(), tenant='acme')}"}, 401),
    ],
)
def test_the_authorizer_refuses_bad_tokens(gateway: Gateway, headers: dict, status: int) -> None:
    response = requests.get(f"{gateway.url}/things/x", headers=headers, timeout=10)
    assert response.status_code == status
    assert response.json() == {"message": "Unauthorized"}  # as API Gateway answers
    assert 'error="invalid_' in response.headers["www-authenticate"]  # the reason


def test_the_authorizer_checks_scopes_claims_and_expiry(keys: KeyPair) -> None:
    authorizer = JwtAuthorizer(keys.public_pem)
    ok = authorizer.authorize(_auth(keys, SCOPE_READ)["Authorization"], (SCOPE_READ,))
    assert ok.claims["tenant"] == "acme" and ok.scopes == [SCOPE_READ]
    # "Bearer " is optional, as with API Gateway
    raw = issue_token(keys, tenant="acme")
    assert authorizer.authorize(raw, (SCOPE_WRITE,)).claims["sub"] == "local-user@acme"
    read_only = _auth(keys, SCOPE_READ)["Authorization"]
    with pytest.raises(TokenRejected) as forbidden:
        authorizer.authorize(read_only, (SCOPE_WRITE,))
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
    expired = issue_token(keys, tenant="acme", now=int(time.time()) - 7200, ttl_seconds=60)
    with pytest.raises(TokenRejected, match="expired"):
        authorizer.authorize(expired, ())
    for bad in (
        issue_token(keys, tenant="acme", issuer="evil"),
        issue_token(keys, tenant="acme", audience="other"),
    ):
        with pytest.raises(TokenRejected) as rejected:
            authorizer.authorize(bad, ())
        assert rejected.value.status == 401


def test_keys_are_generated_once_even_when_raced(tmp_path: Path) -> None:
    pairs: list[KeyPair] = []
    threads = [
        threading.Thread(target=lambda: pairs.append(ensure_key_pair(tmp_path))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({p.private_pem for p in pairs}) == 1
    assert ensure_key_pair(tmp_path) == pairs[0]
    assert sorted(p.name for p in (tmp_path / "jwt").iterdir()) == ["private.pem", "public.pem"]


def test_claims_are_stringified_like_api_gateway() -> None:
    assert stringify_claims({"n": 5, "b": True, "l": ["a", "b"], "s": "x"}) == {
        "n": "5",
        "b": "true",
        "l": "[a b]",
        "s": "x",
    }


# --- the worker runner -------------------------------------------------------------------


class FakeWorker:
    """Fails bodies starting with "fail", "flaky" ones on their first receive; raises on
    "raise"; records every event."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.seen: dict[str, int] = {}

    def __call__(self, event: dict, context: Any) -> dict:
        self.events.append(event)
        failures = []
        for record in event["Records"]:
            body = record["body"]
            self.seen[body] = self.seen.get(body, 0) + 1
            if body == "raise":
                raise RuntimeError("the whole batch fails")
            if body.startswith("fail") or (body.startswith("flaky") and self.seen[body] == 1):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


@pytest.fixture
def queues(stack: Stack) -> Iterator[dict[str, str]]:
    """A fresh queue with a DLQ (maxReceiveCount 2) on the stack's moto server."""
    sqs = stack.client("sqs")
    name = f"parts-{uuid.uuid4().hex[:10]}"
    dlq_url = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "5400",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    yield {"url": url, "arn": arn, "dlq_url": dlq_url}
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dlq_url)


def _runner(stack: Stack, queues: dict[str, str], fake: FakeWorker, **kwargs: Any) -> WorkerRunner:
    function = LocalFunction(FunctionDef("fake_worker", "fake", timeout_seconds=10), fake)
    options: dict[str, Any] = {"retry_delay_seconds": 0, "wait_seconds": 0, "batch_size": 10}
    options.update(kwargs)
    return WorkerRunner(
        function,
        stack.client("sqs"),
        queue_url=queues["url"],
        queue_arn=queues["arn"],
        dlq_url=queues["dlq_url"],
        **options,
    )


def _bodies(sqs: Any, url: str) -> list[str]:
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in answer.get("Messages", []))


def _visible(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_partial_failures_are_retried_and_end_in_the_dlq(
    stack: Stack, queues: dict[str, str]
) -> None:
    sqs = stack.client("sqs")
    fake = FakeWorker()
    runner = _runner(stack, queues, fake)
    sqs.send_message(
        QueueUrl=queues["url"],
        MessageBody="ok-1",
        MessageAttributes={
            "source": {"DataType": "String", "StringValue": "e2e"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    for body in ("fail-1", "flaky-1"):
        sqs.send_message(QueueUrl=queues["url"], MessageBody=body)

    # Given one batch with a success, a failure and a transient failure
    first = runner.poll_once()
    assert first.received == 3
    assert len(first.succeeded) == 1 and len(first.failed) == 2
    record = next(r for r in fake.events[0]["Records"] if r["body"] == "ok-1")
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues["arn"]
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["md5OfBody"] and record["receiptHandle"]
    assert record["messageAttributes"]["source"] == {
        "stringValue": "e2e",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert base64.b64decode(record["messageAttributes"]["blob"]["binaryValue"]) == b"\x00\x01"

    # When the failed ones come back (retry delay 0 here), the transient one succeeds
    second = runner.poll_once()
    assert second.received == 2 and len(second.succeeded) == 1
    assert fake.seen == {"ok-1": 1, "fail-1": 2, "flaky-1": 2}

    # Then the failure is moved to the DLQ on the receive after maxReceiveCount receives
    third = runner.poll_once()
    assert third.received == 0
    assert _bodies(sqs, queues["url"]) == []
    assert _bodies(sqs, queues["dlq_url"]) == ["fail-1"]


def test_a_function_error_fails_the_whole_batch(stack: Stack, queues: dict[str, str]) -> None:
    sqs = stack.client("sqs")
    fake = FakeWorker()
    runner = _runner(stack, queues, fake, retry_delay_seconds=1)
    sqs.send_message_batch(
        QueueUrl=queues["url"],
        Entries=[{"Id": "1", "MessageBody": "ok-2"}, {"Id": "2", "MessageBody": "raise"}],
    )
    outcome = runner.poll_once()
    assert outcome.received == 2 and len(outcome.failed) == 2
    assert "function error" in outcome.reason
    # Invisible for the retry delay, then back (not the queue's 5400 s visibility timeout).
    assert _bodies(sqs, queues["url"]) == []
    # Wait without receiving (a receive counts towards maxReceiveCount 2), then look once.
    eventually(lambda: _visible(sqs, queues["url"]) == 2, timeout=10)
    assert _bodies(sqs, queues["url"]) == ["ok-2", "raise"]


def test_lambda_rules_for_batch_item_failures() -> None:
    ids = ["a", "b"]
    assert _failed_ids(ids, None, None) == (set(), "")
    assert _failed_ids(ids, {}, None) == (set(), "")
    assert _failed_ids(ids, {"batchItemFailures": []}, None) == (set(), "")
    assert _failed_ids(ids, {"batchItemFailures": [{"itemIdentifier": "b"}]}, None)[0] == {"b"}
    for invalid in (
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{"id": "a"}],
        [{"itemIdentifier": "zz"}],
    ):
        assert _failed_ids(ids, {"batchItemFailures": invalid}, None)[0] == {"a", "b"}
    assert _failed_ids(ids, "not a dict", None)[0] == {"a", "b"}
    assert _failed_ids(ids, None, RuntimeError())[0] == {"a", "b"}


def test_the_runner_thread_batches_and_stops(stack: Stack, queues: dict[str, str]) -> None:
    sqs = stack.client("sqs")
    fake = FakeWorker()
    lines: list[str] = []
    runner = _runner(
        stack, queues, fake, wait_seconds=1, batching_window_seconds=0.5, report=lines.append
    )
    runner.start()
    try:
        for i in range(3):
            sqs.send_message(QueueUrl=queues["url"], MessageBody=f"ok-{i}")
            time.sleep(0.05)
        eventually(lambda: len(fake.seen) == 3, timeout=10)
        # The report line comes after the batch is settled, a moment after the handler ran.
        eventually(lambda: bool(lines), timeout=10)
        # The batching window gathered the three messages into one batch.
        assert [len(e["Records"]) for e in fake.events] == [3]
        assert lines and lines[0].startswith("worker batch of 3: 3 done")
    finally:
        started = time.monotonic()
        runner.stop()
        assert time.monotonic() - started < 5
    assert not runner.running


def test_a_client_gone_mid_answer_prints_no_traceback(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """An `intake send` stopped with Ctrl-C leaves its connection half-answered: the console
    of `make up` shows no traceback for it, and still shows one for a real fault."""
    from intake_local.gateway import _Server

    server = gateway._server
    assert isinstance(server, _Server)
    for gone in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
        try:
            raise gone
        except OSError:
            server.handle_error(None, ("127.0.0.1", 50000))
    assert "Traceback" not in capsys.readouterr().err
    try:
        raise ValueError("a fault of the gateway's own")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 50000))
    assert "ValueError: a fault of the gateway's own" in capsys.readouterr().err
