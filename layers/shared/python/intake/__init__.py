"""Intake: shared code for the API functions and the import worker."""
