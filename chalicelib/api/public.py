"""Public blueprint: the service catalog, readable by anyone (villagers before they travel)."""
from __future__ import annotations

from chalice import Blueprint

from .. import container, settings
from .. import validation as schemas
from ..usecases import catalog as catalog_uc
from .errors import api_view, query_params

bp = Blueprint(__name__)


@bp.route("/v1/services", methods=["GET"], cors=True)
@api_view
def list_services():
    """Items ordered by code; ``?category=&level=&limit=1..100&cursor=`` (opaque)."""
    q = query_params(bp.current_request)
    schemas.validate("services_query", q)
    return catalog_uc.list_services(container.catalog(), category=q.get("category"), level=q.get("level"),
                                    limit=int(q.get("limit", 20)), cursor=q.get("cursor"))


@bp.route("/v1/services/{code}", methods=["GET"], cors=True)
@api_view
def get_service(code):
    """One item with its eight publicities; ``?township=<9 digits>`` picks the township."""
    township = query_params(bp.current_request).get("township") or settings.DEFAULT_TOWNSHIP
    return catalog_uc.get_service(container.catalog(), code, township)
