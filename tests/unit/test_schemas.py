"""Request validation names the field at fault, in zh-CN, with stable codes."""
import pytest

from chalicelib import validation as schemas
from chalicelib.domain.errors import ValidationFailed
from tests.conftest import valid_submission


def problems(body):
    with pytest.raises(ValidationFailed) as caught:
        schemas.validate("case_submission", body)
    return {(p.path, p.code) for p in caught.value.details}


def test_valid_submission_passes():
    schemas.validate("case_submission", valid_submission())


def test_missing_field_is_named():
    body = valid_submission()
    del body["applicant"]["id_number"]
    assert problems(body) == {("applicant.id_number", "FIELD_REQUIRED")}


def test_wrong_type_and_unknown_field_are_named():
    body = valid_submission(township_code=431224100, extra=True)
    assert problems(body) == {("township_code", "FIELD_TYPE"), ("extra", "FIELD_NOT_ALLOWED")}


def test_body_that_is_not_an_object():
    assert problems([1, 2]) == {("(body)", "FIELD_TYPE")}


def test_every_schema_is_valid_json_schema():
    for path in schemas.SCHEMA_DIR.glob("*.json"):
        schemas.validator(path.stem)


def test_every_user_name_an_account_may_have_can_receive_a_handover_and_hold_a_window_post():
    """Regression: accounts allow ``^[a-z0-9_.-]{3,32}$`` but handover and window posts asked
    for a leading letter, so ``3zhang`` could log in yet never be handed a case."""
    for name in ("3zhang", "_wang", "li.si-2"):
        schemas.validate("staff_account", {"username": name, "display_name": "测试", "roles": ["window_clerk"],
                                           "township_codes": ["431224100"], "password": "Very-Secret-42x"})
        schemas.validate("case_handover", {"to": name, "reason": "轮岗"})
        schemas.validate("window", {"name": "综合窗口", "a_post": name, "b_post": "clerk.b"})
