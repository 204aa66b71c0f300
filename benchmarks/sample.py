"""The comparison for P3: the approach of AWS's serverless-patterns S3 -> SQS -> Lambda ->
DynamoDB CSV sample, written out here (not copied): the Lambda takes the SQS message carrying
S3's notification, reads the whole object with get_object().read(), parses it with
csv.DictReader and writes one put_item per row.

Its table here is Intake's records table, so the row gets the table's key attributes (pk, sk)
added; everything else is the row as DictReader gives it.
"""

from __future__ import annotations

import csv
import json
from typing import Any
from urllib.parse import unquote_plus

import boto3

PARTITION = "sample#contacts"


class SampleLambda:
    """Module-level clients in the original; built once per instance here."""

    def __init__(self, table_name: str) -> None:
        self.s3 = boto3.client("s3")
        self.dynamodb = boto3.resource("dynamodb")
        self.table = self.dynamodb.Table(table_name)

    def handler(self, event: dict[str, Any], _context: Any = None) -> int:
        written = 0
        for message in event["Records"]:  # SQS records
            notification = json.loads(message["body"])
            for record in notification.get("Records", []):
                bucket = record["s3"]["bucket"]["name"]
                key = unquote_plus(record["s3"]["object"]["key"])
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                for row in csv.DictReader(body.decode("utf-8").splitlines()):
                    self.table.put_item(Item={"pk": PARTITION, "sk": row["external_id"], **row})
                    written += 1
        return written
