"""Catalog administration blueprint (issue 7): versioned service items and per-township
settings (administrator), and the items' versions (public: what was published, and the terms a
case was filed under). ``docs/catalog.md``."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import ADMINISTRATOR
from ..usecases import catalog_admin
from .errors import BODY_TYPES, json_body, json_response, query_params
from .security import PUBLIC, endpoint

bp = Blueprint(__name__)


def _if_match():
    return (bp.current_request.headers or {}).get("if-match")


@endpoint(bp, "/v1/admin/services", methods=["POST"], roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def create_item(caller):
    """201 with the new item at version 1."""
    return json_response(catalog_admin.create_item(
        caller.principal, caller.origin, json_body(bp.current_request), catalog=container.catalog(),
        publisher=container.publicity_publisher()), 201)


@endpoint(bp, "/v1/admin/services/{code}", methods=["PUT"], roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def update_item(code, caller):
    """A new version of the item; ``If-Match: <version>`` required (412 when stale)."""
    return catalog_admin.update_item(caller.principal, caller.origin, code, json_body(bp.current_request),
                                     if_match=_if_match(), catalog=container.catalog(),
                                     publisher=container.publicity_publisher())


@endpoint(bp, "/v1/admin/services/{code}/retire", methods=["POST"], roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def retire_item(code, caller):
    """Retire the item (no new cases); ``If-Match: <version>`` required."""
    return catalog_admin.retire_item(caller.principal, caller.origin, code, if_match=_if_match(),
                                     catalog=container.catalog(), publisher=container.publicity_publisher())


@endpoint(bp, "/v1/services/{code}/versions", access=PUBLIC, cors=True)
def item_versions(code, caller):
    """The item's versions, newest first; ``?limit=1..100&cursor=``."""
    q = query_params(bp.current_request)
    return catalog_admin.item_versions(code, catalog=container.catalog(), limit=q.get("limit"), cursor=q.get("cursor"))


@endpoint(bp, "/v1/services/{code}/versions/{version}", access=PUBLIC, cors=True)
def item_version(code, version, caller):
    """The item as it was at one version."""
    return catalog_admin.item_version(code, version, catalog=container.catalog())


@endpoint(bp, "/v1/admin/townships/{code}/settings", methods=["PUT"], roles=(ADMINISTRATOR,),
          content_types=BODY_TYPES)
def put_township_settings(code, caller):
    """A new version of the township's settings; ``If-Match`` required once they exist."""
    return catalog_admin.put_township_settings(caller.principal, caller.origin, code, json_body(bp.current_request),
                                               if_match=_if_match(), catalog=container.catalog(),
                                               publisher=container.publicity_publisher())


@endpoint(bp, "/v1/admin/townships/{code}/settings", roles=(ADMINISTRATOR,))
def get_township_settings(code, caller):
    """The township's settings (``?version=n`` for an earlier version)."""
    return catalog_admin.get_township_settings(caller.principal, code, catalog=container.catalog(),
                                               version=query_params(bp.current_request).get("version"))
