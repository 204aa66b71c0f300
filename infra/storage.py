"""The bucket: uploads/, drop/ and reports/ (see intake.keys)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import definitions as d


class Storage(Construct):
    """Private, SSL-only, encrypted (SSE-S3), versioned bucket with clean-up lifecycle rules."""

    def __init__(self, scope: Construct, id: str, *, cors_origins: Sequence[str]) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=d.BUCKET_VERSIONED,
            removal_policy=RemovalPolicy.RETAIN,
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
