"""Routes of the catalog function: import types, the OpenAPI document and Swagger UI."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from intake.api import contract
from intake.import_types import all_import_types
from intake.models.api import ImportTypeView
from intake.observability import metrics

router = Router()


@router.get(
    "/import-types",
    summary="What can be imported, and in which formats",
    tags=["types"],
    operation_id="listImportTypes",
    responses=contract.LIST_IMPORT_TYPES,
)
def list_import_types() -> list[ImportTypeView]:
    metrics.add_metric(name="ImportTypeListings", unit="Count", value=1)
    return [
        ImportTypeView(
            name=t.name,
            version=t.version,
            description=t.description,
            media_types=list(t.media_types),
            max_size=t.max_size,
            natural_key=t.natural_key,
            json_schema=t.json_schema,
            aliases={name: list(names) for name, names in t.aliases.items()},
        )
        for t in all_import_types()
    ]
