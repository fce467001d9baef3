"""Resident ID check digits (GB 11643) and masking of personal data."""
from chalicelib.domain.people import id_number_valid, mask_id_number, mask_name, mask_phone, mask_text


def test_check_digit():
    assert id_number_valid("431224195001011234")
    assert not id_number_valid("431224195001011235")
    assert id_number_valid("11010519491231002X")
    assert not id_number_valid("11010519491231002x")  # callers upper-case first
    assert not id_number_valid("4312241950010112")


def test_masks():
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_id_number("431224195001011234") == "431***********1234"
    assert mask_phone("13812345678") == "138****5678"


def test_mask_text_hides_ids_and_phones_in_log_lines():
    line = '{"msg": "applicant 431224195001011234 phone 13812345678 case 20261130065245886-431224100-W5XR"}'
    masked = mask_text(line)
    assert "431224195001011234" not in masked and "13812345678" not in masked
    assert "431***********1234" in masked and "138****5678" in masked
    assert "20261130065245886-431224100-W5XR" in masked  # case numbers stay readable


def test_mask_text_hides_numbers_typed_with_prefixes_and_separators():
    for typed in ("+8613912345678", "86 13912345678", "139-1234-5678", "139 1234 5678", "+86 139-1234-5678",
                  "431224-19600303-5672", "431224 19600303 5672"):
        masked = mask_text(f"联系 {typed} 谢谢")
        digits = "".join(ch for ch in masked if ch.isdigit())
        assert "12345678" not in digits and "1960030356" not in digits, (typed, masked)
    assert mask_text("2026-11-30 03:34:36,123") == "2026-11-30 03:34:36,123"  # timestamps are left alone
    assert mask_text("case 20261130143005123-431224100-7KQ3") == "case 20261130143005123-431224100-7KQ3"
