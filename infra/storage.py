"""The bucket (uploads/, drop/ and reports/: see intake.keys) and its access-log bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import definitions as d


class Storage(Construct):
    """Private, SSL-only, encrypted (SSE-S3), versioned bucket with clean-up lifecycle rules."""

    def __init__(self, scope: Construct, id: str, *, cors_origins: Sequence[str]) -> None:
        super().__init__(scope, id)
        # Log delivery is allowed by a bucket policy for the S3 logging service, not by the
        # legacy LogDeliveryWrite ACL (which would need ACLs enabled on the log bucket).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        # S3 server access logs: who read or wrote which object, for audits and incidents.
        # Access-log delivery supports SSE-S3 only (not SSE-KMS) on the target bucket.
        self.access_log_bucket = _private_bucket(
            self,
            "AccessLogBucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(d.ACCESS_LOG_EXPIRY_DAYS),
                )
            ],
        )
        self.bucket = _private_bucket(
            self,
            "Bucket",
            versioned=d.BUCKET_VERSIONED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=d.ACCESS_LOG_PREFIX,
            lifecycle_rules=_lifecycle_rules(),
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods(m) for m in d.CORS_ALLOWED_METHODS],
                    allowed_origins=list(cors_origins),
                    allowed_headers=list(d.CORS_ALLOWED_HEADERS),
                    exposed_headers=list(d.CORS_EXPOSED_HEADERS),
                    max_age=3000,
                )
            ],
        )


def _private_bucket(scope: Construct, id: str, **props: Any) -> s3.Bucket:
    """Both buckets: no public access, SSL only, SSE-S3, owner-enforced, kept on stack delete."""
    return s3.Bucket(
        scope,
        id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN,
        **props,
    )


def _lifecycle_rules() -> list[s3.LifecycleRule]:
    rules = [
        s3.LifecycleRule(
            id="abort-incomplete-multipart",
            abort_incomplete_multipart_upload_after=Duration.days(
                d.ABORT_INCOMPLETE_MULTIPART_DAYS
            ),
        ),
        s3.LifecycleRule(
            id="expire-reports",
            prefix=d.REPORT_PREFIX,
            expiration=Duration.days(d.REPORT_EXPIRY_DAYS),
        ),
        s3.LifecycleRule(
            id="expire-staging",
            prefix=d.STAGING_PREFIX,
            expiration=Duration.days(d.STAGING_EXPIRY_DAYS),
        ),
    ]
    if d.BUCKET_VERSIONED:
        rules.append(
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(d.NONCURRENT_VERSION_EXPIRY_DAYS),
                expired_object_delete_marker=True,
            )
        )
    return rules
