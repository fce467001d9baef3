"""Public blueprint: the service catalog, readable by anyone (villagers before they travel)."""
from __future__ import annotations

from chalice import Blueprint

from .. import container, settings
from .. import validation as schemas
from ..usecases import catalog as catalog_uc
from .errors import query_params
from .security import PUBLIC, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/services", access=PUBLIC, cors=True)
def list_services(caller):
    """Items ordered by code; ``?category=&level=&limit=1..100&cursor=`` (opaque)."""
    q = query_params(bp.current_request)
    schemas.validate("services_query", q)
    return catalog_uc.list_services(container.catalog(), category=q.get("category"), level=q.get("level"),
                                    limit=int(q.get("limit", 20)), cursor=q.get("cursor"))


@endpoint(bp, "/v1/services/{code}", access=PUBLIC, cors=True)
def get_service(code, caller):
    """One item with its eight publicities; ``?township=<9 digits>`` picks the township."""
    township = query_params(bp.current_request).get("township") or settings.DEFAULT_TOWNSHIP
    return catalog_uc.get_service(container.catalog(), code, township)
