#!/usr/bin/env python3
"""CDK entry point: the Intake stack. Nothing here calls AWS; settings come from context."""

from aws_cdk import App

from infra.stack import IntakeStack

app = App(outdir="cdk.out")
IntakeStack(app, "Intake", description="Intake: serverless bulk file import")
app.synth()
