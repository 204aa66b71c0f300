"""The run sweep, on an EventBridge schedule: requeue or fail runs stuck in QUEUED or PROCESSING."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.clock import utcnow
from intake.logic.sweep import sweep_stuck_runs
from intake.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, int]:
    # The scheduled event carries nothing the sweep needs: it looks at the table as it is now.
    return sweep_stuck_runs(now=utcnow()).as_dict()
