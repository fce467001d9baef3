"""Open311 GeoReport v2 (read-only, public): our catalog for civic-tech clients
(``domain/open311.py`` maps it; ``schemas/open311/`` are the response shapes). Errors are in
Open311's shape (``[{"code", "description"}]``), not ours: that is what its clients parse."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.errors import DomainError
from ..usecases import open311
from .errors import error_response, json_response, query_params
from .security import PUBLIC, endpoint

bp = Blueprint(__name__)


def _answer(run):
    try:
        return json_response(run())
    except DomainError as exc:
        status = error_response(exc).status_code
        return json_response(open311.error_body(status, exc), status)


@endpoint(bp, "/open311/v2/services.json", access=PUBLIC, cors=True)
def services(caller):
    """GET Service List; optional ``jurisdiction_id`` (a township code)."""
    jurisdiction = query_params(bp.current_request).get("jurisdiction_id")
    return _answer(lambda: open311.services(container.catalog(), container.search_index, jurisdiction))


@endpoint(bp, "/open311/v2/services/{service_code}", access=PUBLIC, cors=True)
def service_definition(service_code, caller):
    """GET Service Definition: ``/open311/v2/services/<code>.json`` (JSON only)."""
    jurisdiction = query_params(bp.current_request).get("jurisdiction_id")
    return _answer(lambda: open311.service_definition(container.catalog(), service_code, jurisdiction))
