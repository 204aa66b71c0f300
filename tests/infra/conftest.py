"""Build the CDK app once per session (synth costs seconds) and share its templates.

Every app is built as app.py builds it, with cdk-nag's AwsSolutions pack as a validation plugin:
a finding nobody acknowledged fails the template's synth, and so every test that uses it.

The dependencies layer is pointed (context depsLayerPath) at an empty python/ folder, so these
tests never need `make layer`. The tests of this folder run in one xdist group, so a parallel
run still builds each stack once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.compliance import add_checks
from infra.stack import IntakeStack

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

OIDC_ISSUER = "https://keycloak.example.com/realms/intake"
OIDC_AUDIENCE = "intake-api"
OIDC_TENANT_CLAIM = "org"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("infra"))


@pytest.fixture(scope="session")
def deps_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deps-layer")
    (path / "python").mkdir()
    return path


@dataclass(frozen=True)
class Built:
    template: Template
    outdir: Path

    def nag_report(self) -> dict[str, Any]:
        """cdk-nag's part of the validation report CDK writes next to the template."""
        report = json.loads((self.outdir / "validation-report.json").read_text())
        (pack,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
        return dict(pack)


def build(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path, **context: Any) -> Built:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir), context={"depsLayerPath": str(deps_layer), **context})
    add_checks(app)
    return Built(Template.from_stack(IntakeStack(app, "Intake")), outdir)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Built:
    """The default stack: Cognito user pool as the JWT issuer."""
    return build(tmp_path_factory, deps_layer)


@pytest.fixture(scope="session")
def template(built: Built) -> Template:
    return built.template


@pytest.fixture(scope="session")
def resources(template: Template) -> dict[str, dict[str, Any]]:
    return template.to_json()["Resources"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def oidc_built(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Built:
    """The stack with an external OIDC issuer (e.g. Keycloak) and another tenant claim."""
    return build(
        tmp_path_factory,
        deps_layer,
        authIssuer=OIDC_ISSUER,
        authAudience=[OIDC_AUDIENCE],
        tenantClaim=OIDC_TENANT_CLAIM,
        corsOrigins="https://app.example.com,https://admin.example.com",
    )


@pytest.fixture(scope="session")
def oidc_template(oidc_built: Built) -> Template:
    return oidc_built.template
