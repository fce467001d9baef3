"""Public blueprint: the service catalog, readable by anyone (villagers before they travel)."""
from __future__ import annotations

from chalice import Blueprint, Response

from .. import container, settings
from .. import validation as schemas
from ..usecases import catalog as catalog_uc
from ..usecases import publicity
from .errors import query_params
from .security import PUBLIC, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/services", access=PUBLIC, cors=True)
def list_services(caller):
    """Items ordered by code; ``?category=&level=&limit=1..100&cursor=`` (opaque); with ``q=``
    (what a villager typed) or ``township=``: the ranked search (docs/publicity.md)."""
    q = query_params(bp.current_request)
    schemas.validate("services_query", q)
    return catalog_uc.list_services(container.catalog(), category=q.get("category"), level=q.get("level"),
                                    limit=int(q.get("limit", 20)), cursor=q.get("cursor"), q=q.get("q"),
                                    township=q.get("township"), index=container.search_index)


@endpoint(bp, "/v1/services/{code}", access=PUBLIC, cors=True)
def get_service(code, caller):
    """One item with its eight publicities; ``?township=<9 digits>`` picks the township."""
    township = query_params(bp.current_request).get("township") or settings.DEFAULT_TOWNSHIP
    return catalog_uc.get_service(container.catalog(), code, township, notices=container.notices())


#: The notice page runs nothing and loads nothing: inline CSS and a data: image only.
NOTICE_HEADERS = {"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
                  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                  "Cache-Control": "public, max-age=300"}


@endpoint(bp, "/v1/public/notices/{township_code}/{item_code}", access=PUBLIC, cors=True)
def notice_page(township_code, item_code, caller):
    """The township's eight-publicity notice of the item as an HTML page (the QR code's target)."""
    page = publicity.notice_page(container.notices(), container.objects(), township_code, item_code,
                                  container.catalog())
    return Response(body=page.decode("utf-8"), status_code=200, headers=NOTICE_HEADERS)


@endpoint(bp, "/v1/public/notices/{township_code}/{item_code}/{file}", access=PUBLIC, cors=True)
def notice_file(township_code, item_code, file, caller):
    """``notice.pdf`` or ``qr.png`` of the current notice: 302 to a short-lived presigned GET."""
    url = publicity.notice_file_url(container.notices(), container.objects(), township_code, item_code, file,
                                     container.catalog())
    return Response(body="", status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
