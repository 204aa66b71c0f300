"""Sharded runs: sum a phase's shard reports, then end the run or name its next phase."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.logic.run_steps import FinishStep, finish
from intake.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = FinishStep.model_validate(event)
    logger.append_keys(tenant=step.tenant, file_id=step.file_id, run=step.run, phase=step.phase)
    return finish(step)
