"""cdk-nag's AwsSolutions pack on the whole app, and the one way to acknowledge a finding.

cdk-nag 3 is a CDK validation plugin: it runs at synth (`python app.py`, and every
Template.from_stack in tests/infra), and any unacknowledged finding fails the synth.
Acknowledgments sit next to the resource they concern, each with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, App, CfnResource, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge the pack's `rule` (e.g. "IAM5") for `scope` and everything inside it.

    With `findings` (e.g. "Resource::*", "Action::s3:List*") only those findings of the rule
    are acknowledged, so a new wildcard elsewhere in the same policy still fails the synth.
    """
    ids = [f"{PACK}-{rule}[{finding}]" for finding in findings] or [f"{PACK}-{rule}"]
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=f"{PACK}::{rule_id}", reason=reason) for rule_id in ids)
    )


def arn_finding(resource: IConstruct, suffix: str) -> str:
    """cdk-nag's name for a wildcard under a resource's ARN: "Resource::<Logical.Arn><suffix>"."""
    cfn = resource.node.default_child
    assert isinstance(cfn, CfnResource), f"{resource.node.path} is not an L2 resource"
    return f"Resource::<{Stack.of(resource).resolve(cfn.logical_id)}.Arn>{suffix}"


def acknowledge_wildcards(
    grantee: lambda_.IFunction,
    reason: str,
    *,
    actions: Sequence[str] = (),
    resources: Sequence[str] = (),
) -> None:
    """AwsSolutions-IAM5 for the named wildcard actions and resources of the policy of
    `grantee`'s role (its grants land in the role's default policy)."""
    assert grantee.role is not None, f"{grantee.node.path} has no role"
    findings = [*(f"Action::{action}" for action in actions), *resources]
    acknowledge(grantee.role, "IAM5", reason, findings=findings)


# The action groups CDK's bucket grants use (grant_read, grant_put).
S3_READ_ACTIONS = ("s3:GetObject*", "s3:GetBucket*", "s3:List*")
S3_PUT_ACTIONS = ("s3:Abort*",)
S3_PREFIX_GRANT = (
    "CDK's bucket grants scoped to a key prefix: the s3:GetObject*/GetBucket*/List* (read) and "
    "s3:Abort* (put: abort its own multipart uploads) action groups, on objects under {prefixes} "
    "of the Intake bucket only."
)
TABLE_INDEX_GRANT = (
    "CDK's grant on the status table also covers its indexes (<table>/index/*): the table's "
    "one index is the active-runs index."
)
