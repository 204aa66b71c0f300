"""cdk-nag's AwsSolutions pack ran on the stack (both auth set-ups) with no finding left open,
and every acknowledged finding is one of the reviewed kinds, with its reason."""

from __future__ import annotations

import pytest

from tests.infra.conftest import Built

# Each acknowledged rule (or finding of a rule) and where its reason is written.
REVIEWED = {
    "AwsSolutions-APIG4": "infra/api.py: the public OpenAPI and Swagger UI routes",
    "AwsSolutions-COG8": "infra/auth.py: a client-credentials-only pool",
    "AwsSolutions-L1": "infra/lambda_factory.py: the runtime moves with the layer's Python",
    "AwsSolutions-IAM4": "infra/import_pipeline.py: CDK's bucket-notifications handler",
    "AwsSolutions-IAM5[Resource::*]": "infra/lambda_factory.py: X-Ray takes no resource ARN",
    "AwsSolutions-IAM5[Action::": "infra/api.py, import_pipeline.py: CDK's prefix bucket grants",
    "AwsSolutions-IAM5[Resource::<StorageBucket": "the same grants' key prefixes",
    "AwsSolutions-IAM5[Resource::<TablesStatusTable": "CDK's table grants cover the index",
    "AwsSolutions-IAM5[Resource::<ShardedRunsShard": "infra/sharded_runs.py: function versions",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:": "the map's own executions",
}


@pytest.mark.parametrize("which", ["built", "oidc_built"])
def test_the_aws_solutions_pack_leaves_no_finding_open(
    which: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(which)
    report = built.nag_report()
    # Errors fail the synth anyway; warnings would not, so none may be left either.
    assert report["violations"] == []
    assert report["conclusion"] == "success"
    for finding in report["suppressedViolations"]:
        rule = finding["ruleName"]
        assert any(rule.startswith(kind) for kind in REVIEWED), f"new acknowledgment: {rule}"
        assert len(finding["reason"].split()) >= 12, f"{rule}: say why ({finding['reason']!r})"


def test_iam5_wildcards_are_acknowledged_one_by_one(built: Built) -> None:
    """A whole-rule IAM5 acknowledgment would hide any future wildcard in the same policy."""
    for finding in built.nag_report()["suppressedViolations"]:
        if finding["ruleName"].startswith("AwsSolutions-IAM5"):
            assert finding["acknowledgedId"].startswith("AwsSolutions::AwsSolutions-IAM5[")
        if finding["ruleName"].startswith("AwsSolutions-IAM5[Resource::<StorageBucket"):
            assert finding["ruleName"].endswith(
                ("/uploads/*]", "/drop/*]", "/reports/*]", "/records/*]", "/staging/*]")
            )
