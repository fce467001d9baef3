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
