"""Open311 GeoReport v2 (issue 7 item 3): the service list and service definitions validate
against the schemas written from the spec (schemas/open311/), public, no login."""
import json

import jsonschema
import pytest

from tests.conftest import ROOT

SCHEMAS = ROOT / "schemas" / "open311"


def validator(name):
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_service_list_validates_and_maps_the_catalog(client):
    response = client.http.get("/open311/v2/services.json")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    body = response.json_body
    validator("services").validate(body)
    assert len(body) == 44 and [s["service_code"] for s in body] == sorted(s["service_code"] for s in body)
    dibao = next(s for s in body if s["service_code"] == "HH-MZ-001")
    assert dibao["service_name"] == "最低生活保障审核确认（农村低保申请）" and dibao["group"] == "社会救助"
    assert dibao["metadata"] is True and dibao["type"] == "batch" and dibao["keywords"].startswith("低保, 农村低保")
    assert "承诺时限：20个工作日" in dibao["description"]
    same = client.http.get("/open311/v2/services.json?jurisdiction_id=431224101").json_body
    assert same == body


def test_service_definition_validates_and_lists_materials_as_information(client):
    response = client.http.get("/open311/v2/services/HH-MZ-001.json?jurisdiction_id=431224100")
    assert response.status_code == 200
    body = response.json_body
    validator("service_definition").validate(body)
    assert body["service_code"] == "HH-MZ-001" and len(body["attributes"]) == 7
    first = body["attributes"][0]
    assert first["variable"] is False and first["required"] is False and first["order"] == 1
    assert first["description"].startswith("申报材料：最低生活保障申请书（原件1份；必交")
    assert [a["order"] for a in body["attributes"]] == list(range(1, 8))


@pytest.mark.parametrize("path,status", [
    ("/open311/v2/services/NO-SUCH-1.json", 404),
    ("/open311/v2/services/HH-MZ-001.xml", 404),
    ("/open311/v2/services/HH-MZ-001", 404),
    ("/open311/v2/services.json?jurisdiction_id=999999999", 404),
    ("/open311/v2/services/HH-MZ-001.json?jurisdiction_id=abc", 404),
])
def test_errors_come_in_open311_shape(client, path, status):
    response = client.http.get(path)
    assert response.status_code == status
    validator("errors").validate(response.json_body)
    assert response.json_body[0]["code"] == status
