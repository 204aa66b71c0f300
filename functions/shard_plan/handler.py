"""Sharded runs, first step: cut the run's object into byte-range shards."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.logic.run_steps import RunRef, plan
from intake.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = RunRef.model_validate(event)
    logger.append_keys(tenant=ref.tenant, file_id=ref.file_id, run=ref.run)
    return plan(ref)
