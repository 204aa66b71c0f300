"""The import pipeline: S3 notifications -> queue (with DLQ) -> worker with partial failures."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from infra import definitions as d
from tests.infra.helpers import Resources, function_for, of_type, only, ref_id


def _main_queue(resources: Resources) -> tuple[str, dict]:
    queues = {k: r for k, r in of_type(resources, "AWS::SQS::Queue").items()}
    main = [(k, r) for k, r in queues.items() if "RedrivePolicy" in r["Properties"]]
    assert len(main) == 1
    return main[0]


def test_worker_reports_batch_item_failures(template: Template, resources: Resources) -> None:
    # Given the event source mapping that feeds the worker
    _, mapping = only(resources, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    # Then it reports partial batch failures and reads the import queue in batches
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == d.IMPORT_QUEUE.batch_size
    assert props["MaximumBatchingWindowInSeconds"] == d.IMPORT_QUEUE.max_batching_window_seconds
    queue_id, _ = _main_queue(resources)
    assert ref_id(props["EventSourceArn"]) == queue_id
    worker_id, _ = function_for(resources, d.IMPORT_WORKER)
    assert ref_id(props["FunctionName"]) == worker_id


def test_queue_redrives_to_a_dead_letter_queue(resources: Resources) -> None:
    _, queue = _main_queue(resources)
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == d.IMPORT_QUEUE.max_receive_count
    dlq = resources[ref_id(redrive["deadLetterTargetArn"])]
    assert dlq["Type"] == "AWS::SQS::Queue"
    assert dlq["Properties"]["MessageRetentionPeriod"] == d.IMPORT_QUEUE.dlq_retention_days * 86400


def test_visibility_timeout_is_at_least_six_times_the_worker_timeout(resources: Resources) -> None:
    # Both read from the template, not from the definitions
    _, mapping = only(resources, "AWS::Lambda::EventSourceMapping")
    worker = resources[ref_id(mapping["Properties"]["FunctionName"])]
    queue = resources[ref_id(mapping["Properties"]["EventSourceArn"])]
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * worker["Properties"]["Timeout"]


def test_queues_are_encrypted_and_ssl_only(template: Template, resources: Resources) -> None:
    for queue in of_type(resources, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    for queue_id in of_type(resources, "AWS::SQS::Queue"):
        template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "sqs:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_bucket_notifies_the_queue_for_each_prefix(resources: Resources) -> None:
    _, notifications = only(resources, "Custom::S3BucketNotifications")
    configs = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    queue_id, _ = _main_queue(resources)
    prefixes = set()
    for config in configs:
        assert ref_id(config["QueueArn"]) == queue_id
        assert config["Events"] == ["s3:ObjectCreated:*"]
        (rule,) = config["Filter"]["Key"]["FilterRules"]
        assert rule["Name"] == "prefix"
        prefixes.add(rule["Value"])
    assert prefixes == {"uploads/", "drop/"} == set(d.NOTIFIED_PREFIXES)


def test_bucket_may_send_to_the_queue(template: Template, resources: Resources) -> None:
    queue_id, _ = _main_queue(resources)
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": Match.array_with(["sqs:SendMessage"]),
                            }
                        )
                    ]
                )
            },
        },
    )
