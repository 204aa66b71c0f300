"""A saved profile: one tenant's named mapping for one import type (design.md, "Partner files").

A declaration, an import request or a drop names a profile instead of sending a mapping; the
file keeps a copy of the profile's mapping (a snapshot), so editing the profile later changes
no file already declared or run.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from intake.models.mapping import Mapping


class Profile(BaseModel):
    tenant: str
    name: str
    import_type: str
    mapping: Mapping
    created_at: datetime
    updated_at: datetime
    # The tenant's default profile for `import_type`: drops of that type use it when their
    # path names no profile. At most one per tenant and type.
    default: bool = False
