"""The local stack's cache of the rendered sharded-runs definition (intake_local.sharded_runs):
rendering runs jsii for seconds, so a start reads the cache, and any change to what the
definition is built from (infra/*.py, the CDK library, the ARNs) renders it again."""

from __future__ import annotations

from pathlib import Path

from intake_local.lambda_runtime import function_arn
from intake_local.sharded_runs import DefinitionRender, cache_key

ARNS = {name: function_arn(name) for name in ("shard_plan", "shard_run", "shard_finish")}


def test_the_key_follows_the_infra_code_and_the_arns(tmp_path: Path) -> None:
    (tmp_path / "sharded_runs.py").write_text("MAX = 8\n")
    (tmp_path / "definitions.py").write_text("X = 1\n")
    first = cache_key(ARNS, tmp_path)
    assert cache_key(ARNS, tmp_path) == first
    (tmp_path / "notes.txt").write_text("not code")
    assert cache_key(ARNS, tmp_path) == first
    (tmp_path / "definitions.py").write_text("X = 2\n")
    assert cache_key(ARNS, tmp_path) != first
    assert cache_key({**ARNS, "shard_run": "arn:other"}, tmp_path) != cache_key(ARNS, tmp_path)


def test_a_cached_definition_is_read_without_rendering(tmp_path: Path) -> None:
    cached = DefinitionRender(ARNS, tmp_path)
    assert not cached.cached  # nothing there yet: a render started
    cached.cancel()
    cached.cache_path.write_text('{"StartAt": "Plan"}')

    again = DefinitionRender(ARNS, tmp_path)

    assert again.cached
    assert again.result() == '{"StartAt": "Plan"}'
