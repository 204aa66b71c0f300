"""`make bench`: throughput, memory and DynamoDB-request figures of the import path.

Not a test suite: nothing here asserts timings. `python -m benchmarks.run --help`.
"""
