"""The whole schema: `server.models` plus the tables of domain packages that build on tickets
(inspections), for migrations and for checks that compare the metadata with the database."""

from server.inspections import models as _inspection_models  # noqa: F401
from server.models import Base

__all__ = ["Base"]
