"""Import types: what a file may contain and how its records land in the sink."""

from intake.import_types.base import ImportType, RecordCheck
from intake.import_types.registry import all_import_types, get_import_type

__all__ = ["ImportType", "RecordCheck", "all_import_types", "get_import_type"]
