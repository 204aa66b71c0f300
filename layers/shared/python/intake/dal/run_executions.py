"""The sharded-runs state machine (Step Functions): start the execution that runs one run."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from intake.aws import client
from intake.observability import logger
from intake.settings import get_settings


def execution_name(file_id: str, run: int) -> str:
    """One execution per run: starting it again (a redelivered message) starts nothing new."""
    return f"{file_id}-run-{run}"


def start(tenant: str, file_id: str, run: int) -> str:
    """Start the execution that runs run `run` of the file, named by `execution_name`; return
    its name. An execution of that name that already exists (started by an earlier delivery
    of the same message) is left as it is."""
    name = execution_name(file_id, run)
    try:
        client("stepfunctions").start_execution(
            stateMachineArn=get_settings().sharded_runs_state_machine_arn,
            name=name,
            input=json.dumps({"tenant": tenant, "file_id": file_id, "run": run}),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("the run's execution was started already", extra={"execution": name})
    return name
