"""Materials blueprint (``docs/materials.md``): upload slots, the checklist, downloads and the
window's check of originals. Bytes go straight to and from S3 (presigned POST and GET)."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import COUNTY_APPROVER, SUPERVISOR, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK
from ..usecases import materials
from .errors import BODY_TYPES, idempotency_key, json_body, json_response, query_params
from .security import endpoint

bp = Blueprint(__name__)

#: Roles that can hold a capacity on a case; the use case decides per case (404 / 403).
CASE_ROLES = (VILLAGER, VILLAGE_AGENT, WINDOW_CLERK, COUNTY_APPROVER, SUPERVISOR)


@endpoint(bp, "/v1/cases/{case_no}/materials/{code}/slots", methods=["POST"], roles=(VILLAGER, VILLAGE_AGENT),
          content_types=BODY_TYPES)
def request_slot(case_no, code, caller):
    """201 with a presigned POST for one file of one checklist material; 200 with the same slot
    when the Idempotency-Key was seen."""
    request = bp.current_request
    view, created = materials.request_slot(
        caller.principal, caller.origin, case_no, code, json_body(request),
        idempotency_key=idempotency_key(request), cases=container.cases(), catalog=container.catalog(),
        identity=container.identity(), materials=container.materials(), objects=container.objects(),
        audit_log=container.audit_log())
    return json_response(view, 201 if created else 200)


@endpoint(bp, "/v1/cases/{case_no}/materials", roles=CASE_ROLES)
def list_materials(case_no, caller):
    """The checklist with each material's status, trust level, versions and SHA-256."""
    return materials.list_materials(caller.principal, caller.origin, case_no, cases=container.cases(),
                                    catalog=container.catalog(), identity=container.identity(),
                                    materials=container.materials(), audit_log=container.audit_log())


@endpoint(bp, "/v1/cases/{case_no}/materials/{code}", roles=CASE_ROLES)
def download(case_no, code, caller):
    """A short-lived presigned GET of the current version, or ``?version=n``."""
    return materials.download(caller.principal, caller.origin, case_no, code,
                              query_params(bp.current_request).get("version"), cases=container.cases(),
                              catalog=container.catalog(), identity=container.identity(),
                              materials=container.materials(), objects=container.objects(),
                              audit_log=container.audit_log())


@endpoint(bp, "/v1/cases/{case_no}/materials/{code}/verify", methods=["POST"], roles=CASE_ROLES,
          content_types=BODY_TYPES)
def verify(case_no, code, caller):
    """A window clerk of the township checked the original: trust level C -> B."""
    return materials.verify(caller.principal, caller.origin, case_no, code, json_body(bp.current_request),
                            cases=container.cases(), catalog=container.catalog(), identity=container.identity(),
                            materials=container.materials(), audit_log=container.audit_log())
