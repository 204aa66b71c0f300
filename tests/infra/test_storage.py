"""The bucket and the tables: private, encrypted, SSL-only, retained, cleaned up by lifecycle."""

from __future__ import annotations

from aws_cdk.assertions import Capture, Match, Template

from infra import definitions as d
from tests.infra.helpers import Resources, data_bucket, of_type, ref_id


def test_bucket_blocks_all_public_access(resources: Resources) -> None:
    _, bucket = data_bucket(resources)
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_is_encrypted_and_versioned(resources: Resources) -> None:
    _, bucket = data_bucket(resources)
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert d.BUCKET_VERSIONED
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}


def test_bucket_policy_denies_requests_without_tls(
    template: Template, resources: Resources
) -> None:
    bucket_id, _ = data_bucket(resources)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_bucket_lifecycle_rules(resources: Resources) -> None:
    _, bucket = data_bucket(resources)
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    assert {"DaysAfterInitiation": d.ABORT_INCOMPLETE_MULTIPART_DAYS} in [
        rule.get("AbortIncompleteMultipartUpload") for rule in rules
    ]
    reports = [rule for rule in rules if rule.get("Prefix") == d.REPORT_PREFIX]
    assert [rule["ExpirationInDays"] for rule in reports] == [d.REPORT_EXPIRY_DAYS]
    staging = [rule for rule in rules if rule.get("Prefix") == d.STAGING_PREFIX]
    assert [rule["ExpirationInDays"] for rule in staging] == [d.STAGING_EXPIRY_DAYS]
    noncurrent = [
        r["NoncurrentVersionExpiration"] for r in rules if "NoncurrentVersionExpiration" in r
    ]
    assert noncurrent == [{"NoncurrentDays": d.NONCURRENT_VERSION_EXPIRY_DAYS}]


def test_bucket_cors_allows_browser_uploads(template: Template) -> None:
    methods = Capture()
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "CorsConfiguration": {
                "CorsRules": [
                    {
                        "AllowedMethods": methods,
                        "AllowedOrigins": ["*"],
                        "AllowedHeaders": list(d.CORS_ALLOWED_HEADERS),
                        "ExposedHeaders": Match.array_with(["ETag", "x-amz-checksum-sha256"]),
                        "MaxAge": Match.any_value(),
                    }
                ]
            }
        },
    )
    assert set(methods.as_array()) == set(d.CORS_ALLOWED_METHODS)


def test_cors_origins_come_from_context(oidc_template: Template) -> None:
    oidc_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "CorsConfiguration": {
                "CorsRules": [
                    Match.object_like(
                        {"AllowedOrigins": ["https://app.example.com", "https://admin.example.com"]}
                    )
                ]
            }
        },
    )


def test_bucket_and_tables_are_retained(resources: Resources) -> None:
    for type_ in ("AWS::S3::Bucket", "AWS::DynamoDB::Table"):
        for resource in of_type(resources, type_).values():
            assert resource["DeletionPolicy"] == "Retain"
            assert resource["UpdateReplacePolicy"] == "Retain"


def test_tables_follow_the_definitions(template: Template) -> None:
    for table in d.TABLES:
        keys = [(table.partition_key, "HASH")]
        if table.sort_key:
            keys.append((table.sort_key, "RANGE"))
        expected = {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": n, "KeyType": kind} for n, kind in keys],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": n, "AttributeType": "S"} for n, _ in keys]
            ),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": (
                {"AttributeName": table.ttl_attribute, "Enabled": True}
                if table.ttl_attribute
                else Match.absent()
            ),
        }
        template.has_resource_properties("AWS::DynamoDB::Table", expected)


def test_the_status_table_has_the_sparse_active_runs_index(resources: Resources) -> None:
    (table,) = [
        r["Properties"]
        for r in of_type(resources, "AWS::DynamoDB::Table").values()
        if r["Properties"].get("GlobalSecondaryIndexes")
    ]
    (index,) = table["GlobalSecondaryIndexes"]
    spec = d.ACTIVE_RUNS_INDEX_DEF
    assert d.STATUS_TABLE.indexes == (spec,)
    assert index["IndexName"] == spec.name
    assert index["KeySchema"] == [
        {"AttributeName": spec.partition_key, "KeyType": "HASH"},
        {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
    ]
    # What the sweep reads from it, no more: progress writes do not rewrite whole items there.
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(spec.projected),
    }
    assert {"AttributeName": spec.sort_key, "AttributeType": "S"} in table["AttributeDefinitions"]


def test_bucket_access_logs_go_to_a_private_log_bucket(
    template: Template, resources: Resources
) -> None:
    _, bucket = data_bucket(resources)
    logging = bucket["Properties"]["LoggingConfiguration"]
    assert logging["LogFilePrefix"] == d.ACCESS_LOG_PREFIX
    log_bucket_id = ref_id(logging["DestinationBucketName"])
    log_bucket = resources[log_bucket_id]["Properties"]
    assert log_bucket["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    (rule,) = log_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"  # SSE-S3 only
    assert {"Id": "expire-access-logs", "ExpirationInDays": d.ACCESS_LOG_EXPIRY_DAYS} in [
        {k: r[k] for k in ("Id", "ExpirationInDays") if k in r}
        for r in log_bucket["LifecycleConfiguration"]["Rules"]
    ]
    # Delivery is allowed to the S3 logging service by bucket policy (no ACLs), TLS only.
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": log_bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                            }
                        ),
                    ]
                )
            },
        },
    )
