"""Build the CDK app once per session (synth costs seconds) and share its templates.

The dependencies layer is pointed (context depsLayerPath) at an empty python/ folder, so these
tests never need `make layer`. The tests of this folder run in one xdist group, so a parallel
run still builds each stack once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

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


def build_template(
    tmp_path_factory: pytest.TempPathFactory, deps_layer: Path, **context: Any
) -> Template:
    app = App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={"depsLayerPath": str(deps_layer), **context},
    )
    return Template.from_stack(IntakeStack(app, "Intake"))


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Template:
    """The default stack: Cognito user pool as the JWT issuer."""
    return build_template(tmp_path_factory, deps_layer)


@pytest.fixture(scope="session")
def resources(template: Template) -> dict[str, dict[str, Any]]:
    return template.to_json()["Resources"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def oidc_template(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Template:
    """The stack with an external OIDC issuer (e.g. Keycloak) and another tenant claim."""
    return build_template(
        tmp_path_factory,
        deps_layer,
        authIssuer=OIDC_ISSUER,
        authAudience=[OIDC_AUDIENCE],
        tenantClaim=OIDC_TENANT_CLAIM,
        corsOrigins="https://app.example.com,https://admin.example.com",
    )
