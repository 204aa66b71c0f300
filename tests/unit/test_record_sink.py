"""DynamoDBSink against a fake client: batching, in-batch dedup, retries, item shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from intake.dal import record_sink
from intake.dal.record_sink import BATCH_LIMIT, MAX_ATTEMPTS, DynamoDBSink, SinkWriteError
from intake.settings import get_settings

TABLE = "intake-records-test"
DESERIALIZER = TypeDeserializer()


class FakeDynamoDB:
    """Stands in for boto3's DynamoDB client (only batch_write_item); `stored` holds the items
    written, deserialized from the wire format.

    The first `fail_times` calls leave every other request unprocessed (or all of them with
    `throttle_all`), as DynamoDB does when it throttles a batch.
    """

    def __init__(self, fail_times: int = 0, *, throttle_all: bool = False) -> None:
        self.fail_times = fail_times
        self.throttle_all = throttle_all
        self.calls: list[list[dict[str, Any]]] = []
        self.stored: list[dict[str, Any]] = []

    def batch_write_item(self, *, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        assert list(RequestItems) == [TABLE]
        requests = RequestItems[TABLE]
        assert len(requests) <= BATCH_LIMIT
        self.calls.append(requests)
        if len(self.calls) <= self.fail_times and self.throttle_all:
            done, left = [], requests
        elif len(self.calls) <= self.fail_times:
            done, left = requests[::2], requests[1::2]
        else:
            done, left = requests, []
        self.stored.extend(
            {k: DESERIALIZER.deserialize(v) for k, v in r["PutRequest"]["Item"].items()}
            for r in done
        )
        return {"UnprocessedItems": {TABLE: left} if left else {}}


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "BUCKET_NAME": "intake-bucket-test",
        "STATUS_TABLE": "intake-status-test",
        "RECORDS_TABLE": TABLE,
        "IDEMPOTENCY_TABLE": "intake-idempotency-test",
        "IMPORT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/intake-import",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def use(monkeypatch: pytest.MonkeyPatch, fake: FakeDynamoDB) -> None:
    def client(service: str) -> FakeDynamoDB:
        assert service == "dynamodb"
        return fake

    monkeypatch.setattr(record_sink, "unvalidated_client", client)


def make_sink(sleeps: list[float] | None = None) -> DynamoDBSink:
    recorded = sleeps if sleeps is not None else []
    return DynamoDBSink(
        tenant="acme",
        import_type="contacts",
        file_id="f-1",
        imported_at="2024-05-01T10:00:00.000000Z",
        sleep=recorded.append,
    )


def contact(n: int, name: str = "Ann") -> dict[str, Any]:
    return {"external_id": f"c-{n}", "email": f"u{n}@example.com", "first_name": name}


def test_items_carry_tenant_partition_natural_key_file_and_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeDynamoDB()
    use(monkeypatch, fake)
    sink = make_sink()

    sink.put("c-1", contact(1))

    assert fake.calls == []  # buffered until a batch fills or flush
    assert sink.flush() == 1
    assert fake.stored == [
        {
            "external_id": "c-1",
            "email": "u1@example.com",
            "first_name": "Ann",
            "pk": "acme#contacts",
            "sk": "c-1",
            "file_id": "f-1",
            "imported_at": "2024-05-01T10:00:00.000000Z",
        }
    ]


def test_writes_in_batches_of_25(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDynamoDB()
    use(monkeypatch, fake)
    sink = make_sink()

    for n in range(60):
        sink.put(f"c-{n}", contact(n))

    assert [len(batch) for batch in fake.calls] == [25, 25]
    assert sink.flush() == 60
    assert [len(batch) for batch in fake.calls] == [25, 25, 10]
    assert sorted(item["sk"] for item in fake.stored) == sorted(f"c-{n}" for n in range(60))
    assert sink.requests == 3


def test_flush_counts_since_the_last_flush_and_an_empty_flush_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeDynamoDB()
    use(monkeypatch, fake)
    sink = make_sink()

    assert sink.flush() == 0
    sink.put("c-1", contact(1))
    assert sink.flush() == 1
    assert sink.flush() == 0
    assert len(fake.calls) == 1


def test_a_repeated_key_in_one_batch_is_sent_once_last_wins_but_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeDynamoDB()
    use(monkeypatch, fake)
    sink = make_sink()

    sink.put("c-0", contact(0, "First"))
    for n in range(1, 24):
        sink.put(f"c-{n}", contact(n))
    sink.put("c-0", contact(0, "Second"))  # 24 distinct keys, 25 rows: not yet a batch
    assert fake.calls == []
    sink.put("c-24", contact(24))  # the 25th distinct key fills the batch

    assert [len(batch) for batch in fake.calls] == [25]
    [c0] = [item for item in fake.stored if item["sk"] == "c-0"]
    assert c0["first_name"] == "Second"
    assert sink.flush() == 26


def test_the_same_key_in_two_batches_is_sent_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDynamoDB()
    use(monkeypatch, fake)
    sink = make_sink()

    for n in range(25):
        sink.put(f"c-{n}", contact(n))
    sink.put("c-0", contact(0, "Again"))

    assert sink.flush() == 26
    assert [len(batch) for batch in fake.calls] == [25, 1]
    assert fake.calls[1][0]["PutRequest"]["Item"]["first_name"] == {"S": "Again"}


def test_unprocessed_items_are_retried_with_backoff_until_all_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeDynamoDB(fail_times=3)
    use(monkeypatch, fake)
    sleeps: list[float] = []
    sink = make_sink(sleeps)

    for n in range(25):
        sink.put(f"c-{n}", contact(n))

    assert [len(batch) for batch in fake.calls] == [25, 12, 6, 3]
    assert sorted(item["sk"] for item in fake.stored) == sorted(f"c-{n}" for n in range(25))
    assert len(fake.stored) == 25
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.05 * 2**attempt for attempt, s in enumerate(sleeps))
    assert sink.flush() == 25


def test_gives_up_after_max_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDynamoDB(fail_times=MAX_ATTEMPTS, throttle_all=True)
    use(monkeypatch, fake)
    sleeps: list[float] = []
    sink = make_sink(sleeps)
    for n in range(4):
        sink.put(f"c-{n}", contact(n))

    with pytest.raises(SinkWriteError, match="4 records still unprocessed"):
        sink.flush()

    assert len(fake.calls) == MAX_ATTEMPTS
    assert fake.stored == []
    assert len(sleeps) == MAX_ATTEMPTS - 1  # waits between attempts, none after the last
    assert all(s <= 5.0 for s in sleeps)


def test_succeeds_on_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDynamoDB(fail_times=MAX_ATTEMPTS - 1, throttle_all=True)
    use(monkeypatch, fake)
    sink = make_sink()
    for n in range(4):
        sink.put(f"c-{n}", contact(n))

    assert sink.flush() == 4
    assert len(fake.calls) == MAX_ATTEMPTS
    assert len(fake.stored) == 4


def test_values_keep_their_types_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDynamoDB()
    use(monkeypatch, fake)
    sink = make_sink()

    sink.put("e-1", {"name": "Ev", "seats": 120, "ratio": 0.5, "open": True, "tags": ["a", "b"]})
    sink.flush()

    [request] = fake.calls[0]
    item = request["PutRequest"]["Item"]
    assert item["name"] == {"S": "Ev"}
    assert item["seats"] == {"N": "120"}
    assert item["ratio"] == {"N": "0.5"}
    assert item["open"] == {"BOOL": True}
    assert item["tags"] == {"L": [{"S": "a"}, {"S": "b"}]}
