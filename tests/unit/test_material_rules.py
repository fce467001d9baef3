"""The materials rules (chalicelib/domain/materials.py) without AWS."""
import datetime as dt

import pytest

from chalicelib.domain import materials as rules
from chalicelib.domain.errors import Conflict, NotFound

UTC = dt.timezone.utc
ITEM = [{"name": "居民身份证", "required": True}, {"name": "居民户口簿", "required": True},
        {"name": "居民身份证", "required": False}]


def test_codes_are_stable_across_reordering_and_duplicates_get_a_suffix():
    specs = rules.checklist(ITEM, max_bytes=100)
    assert [s.index for s in specs] == [1, 2, 3]
    assert specs[0].code == rules.material_code("居民身份证") and specs[2].code == specs[0].code + "-2"
    reordered = rules.checklist(list(reversed(ITEM[:2])), max_bytes=100)
    assert {s.name: s.code for s in reordered} == {s.name: s.code for s in specs[:2]}
    assert rules.find(specs, "2").name == "居民户口簿" and rules.find(specs, specs[1].code).index == 2
    for bad in ("0", "4", "m00000000", "../x", ""):
        with pytest.raises(NotFound) as refused:
            rules.find(specs, bad)
        assert refused.value.code == "MATERIAL_NOT_ON_CHECKLIST"


def test_keys_are_unquoted_and_only_slot_keys_parse():
    key = rules.object_key("20261130143005123-431224100-7KQ3", "m1234abcd", "0123456789abcdef")
    assert rules.parse_key(key.replace("/", "%2F")) == {"case_no": "20261130143005123-431224100-7KQ3",
                                                        "code": "m1234abcd", "slot_id": "0123456789abcdef"}
    assert rules.parse_key("materials/x/m1234abcd/0123456789abcdef") is None
    assert rules.parse_key("documents/20261130143005123-431224100-7KQ3/m1234abcd/0123456789abcdef") is None


@pytest.mark.parametrize("head,expected", [
    (b"%PDF-1.7\n", rules.PDF), (b"\xff\xd8\xff\xe0\x00\x10JFIF", rules.JPEG),
    (b"\x89PNG\r\n\x1a\n\x00", rules.PNG), (b"MZ\x90\x00", None), (b"GIF89a", None), (b"", None)])
def test_the_first_bytes_decide_the_type(head, expected):
    assert rules.sniff(head) == expected


def test_content_checks_say_why():
    assert rules.check_content(b"%PDF-1.4 x", rules.DEFAULT_TYPES, 100) == rules.PDF
    for data, limit, code in ((b"", 100, "FILE_EMPTY"), (b"%PDF-" + b"x" * 200, 100, "FILE_TOO_LARGE"),
                              (b"MZ\x90\x00", 100, "FILE_TYPE_NOT_ALLOWED")):
        with pytest.raises(rules.UploadRefused) as refused:
            rules.check_content(data, rules.DEFAULT_TYPES, limit)
        assert refused.value.code == code and refused.value.message


def test_arrival_after_expiry_is_refused_and_sizes_are_bounded():
    slot = {"valid_until": "2026-11-30T10:10:00+00:00", "max_bytes": 10 * 1024 * 1024}
    on_time = dt.datetime(2026, 11, 30, 10, 9, 59, tzinfo=UTC)
    rules.check_arrival(slot, size=1, event_time=on_time, case_status_final=False)
    cases = [(dict(size=1, event_time=on_time + dt.timedelta(seconds=2), case_status_final=False), "SLOT_EXPIRED"),
             (dict(size=1, event_time=on_time, case_status_final=True), "CASE_CLOSED"),
             (dict(size=0, event_time=on_time, case_status_final=False), "FILE_EMPTY"),
             (dict(size=10 * 1024 * 1024 + 1, event_time=on_time, case_status_final=False), "FILE_TOO_LARGE")]
    for kwargs, code in cases:
        with pytest.raises(rules.UploadRefused) as refused:
            rules.check_arrival(slot, **kwargs)
        assert refused.value.code == code
    assert "10MB" in rules.rejection("FILE_TOO_LARGE", max_bytes=10 * 1024 * 1024).message


def test_status_and_what_a_clerk_may_check():
    assert rules.status_of(None) == "missing"
    assert rules.status_of({"current_version": 0, "last_rejection": {"code": "FILE_EMPTY"}}) == "rejected"
    assert rules.status_of({"current_version": 1, "trust_level": "C", "last_rejection": {"code": "X"}}) == "uploaded"
    assert rules.status_of({"current_version": 2, "trust_level": "B"}) == "checked"
    with pytest.raises(NotFound):
        rules.require_verifiable(None, None)
    with pytest.raises(Conflict):
        rules.require_verifiable({"current_version": 2}, 1)
    assert rules.require_verifiable({"current_version": 2}, None) == 2


def test_event_times_without_offset_are_utc_and_garbage_falls_back_to_arrival():
    arrival = dt.datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert rules.event_time("2026-01-01T00:00:00.000Z", arrival) == (dt.datetime(2026, 1, 1, tzinfo=UTC), True)
    assert rules.event_time("2026-01-01T00:00:00", arrival) == (dt.datetime(2026, 1, 1, tzinfo=UTC), True)
    assert rules.event_time(None, arrival) == (arrival, True)
    assert rules.event_time("not-a-time", arrival) == (arrival, False)
