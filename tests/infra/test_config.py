"""Context keys: cdk.json and the code agree; bad or missing inputs fail synth clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App

from infra.config import DEFAULTS, REPO_ROOT, IntakeConfig
from infra.stack import IntakeStack


def test_cdk_json_context_matches_the_code_defaults() -> None:
    # `python app.py` does not read cdk.json; the CDK CLI does: both must build the same stack.
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert context == DEFAULTS


def test_defaults() -> None:
    config = IntakeConfig.from_context(App().node)
    assert not config.external_auth
    # Cognito access tokens carry no custom claims: the tenant is the app client.
    assert config.tenant_claim == "client_id"
    assert config.tenants == ("demo",)
    assert config.cors_origins == ("*",)
    assert config.deps_layer_path == REPO_ROOT / "build" / "layers" / "deps"


def test_comma_separated_context_values() -> None:
    app = App(context={"authIssuer": "https://idp", "authAudience": "a, b", "logLevel": "debug"})
    config = IntakeConfig.from_context(app.node)
    assert config.external_auth
    assert config.auth_audience == ("a", "b")
    assert config.log_level == "DEBUG"


@pytest.mark.parametrize(
    "context",
    [{"authIssuer": "https://idp"}, {"authAudience": ["x"]}, {"logLevel": "LOUD"}],
)
def test_invalid_context_is_rejected(context: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        IntakeConfig.from_context(App(context=context).node)


def test_missing_dependencies_layer_says_run_make_layer(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path / "out"), context={"depsLayerPath": str(tmp_path / "none")})
    with pytest.raises(FileNotFoundError, match="make layer"):
        IntakeStack(app, "Intake")


def test_external_issuer_defaults_to_the_tenant_claim() -> None:
    app = App(context={"authIssuer": "https://idp", "authAudience": "intake"})
    assert IntakeConfig.from_context(app.node).tenant_claim == "tenant"


def test_cognito_needs_a_tenant() -> None:
    with pytest.raises(ValueError, match="tenants"):
        IntakeConfig.from_context(App(context={"tenants": []}).node)
