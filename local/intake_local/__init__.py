"""The local stack: moto server as the AWS endpoint, a local HTTP gateway and the SQS worker.

Everything that exists only to run Intake without AWS lives in this package, never in a
Lambda's code path.
"""
