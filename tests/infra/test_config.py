"""Context keys: cdk.json and the code agree; bad or missing inputs fail synth clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App

from infra.config import DEFAULTS, REPO_ROOT, SIZE_SETTINGS, IntakeConfig
from infra.stack import IntakeStack
from intake.settings import Settings


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


def test_sizes_default_to_the_settings_defaults() -> None:
    config = IntakeConfig.from_context(App().node)
    for field in SIZE_SETTINGS.values():
        assert config.sizes[field] == Settings.model_fields[field].default
    assert config.upload_environment == {
        "MULTIPART_THRESHOLD_BYTES": str(64 * 1024**2),
        "MULTIPART_PART_BYTES": str(16 * 1024**2),
    }
    assert config.shard_environment == {
        "SHARD_THRESHOLD_BYTES": str(32 * 1024**2),
        "SHARD_SIZE_BYTES": str(32 * 1024**2),
    }


def test_sizes_come_from_context_as_numbers_or_text() -> None:
    # `-c shardThresholdBytes=1048576` arrives as text; cdk.json gives numbers.
    app = App(context={"shardThresholdBytes": "1048576", "shardSizeBytes": 65536})
    assert IntakeConfig.from_context(app.node).shard_environment == {
        "SHARD_THRESHOLD_BYTES": "1048576",
        "SHARD_SIZE_BYTES": "65536",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("shardSizeBytes", 1024),  # under the settings' 64 KiB floor
        ("multipartPartBytes", 1024**2),  # under S3's 5 MiB part minimum
        ("multipartThresholdBytes", 6 * 1024**3),  # over S3's 5 GiB single PUT
        ("shardThresholdBytes", "big"),
    ],
)
def test_sizes_the_functions_would_refuse_fail_synth(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        IntakeConfig.from_context(App(context={key: value}).node)


def test_the_records_tables_write_rate_sets_the_shards_concurrency() -> None:
    default = IntakeConfig.from_context(App().node)
    assert default.records_writes_per_second == 4000
    assert default.shard_max_concurrency == 4
    assert default.records_warm_writes is None  # a new on-demand table takes 4,000 writes/s
    warmed = IntakeConfig.from_context(App(context={"recordsWritesPerSecond": "32000"}).node)
    assert warmed.shard_max_concurrency == 32
    assert warmed.records_warm_writes == 32000
    slow = IntakeConfig.from_context(App(context={"recordsWritesPerSecond": 500}).node)
    assert slow.shard_max_concurrency == 1


@pytest.mark.parametrize("value", [0, 50000, "fast"])
def test_a_write_rate_dynamodb_cannot_give_fails_synth(value: object) -> None:
    with pytest.raises(ValueError, match="recordsWritesPerSecond"):
        IntakeConfig.from_context(App(context={"recordsWritesPerSecond": value}).node)
