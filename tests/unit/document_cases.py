"""Case dicts shaped like the ones the lifecycle stores (``domain.lifecycle``), for document tests."""
FULL_ID = "431224195001011234"
VERIFY_URL = "http://127.0.0.1:8000/v1/public/documents/SL-431224100-2026-000123/verify?c=3f9a"
TOWNSHIP = {"code": "431224100", "name": "示例镇便民服务中心", "address": "示例镇人民政府一楼便民服务大厅",
            "consultation_phone": "0745-0000001", "supervision_phone": "0745-0000000"}
DEADLINE = {"due_date": "2026-12-07", "due_date_provisional": False, "yellow_date": "2026-12-03",
            "working_days_left": 10, "working_days_used": 0, "paused_working_days": 0, "paused": False,
            "warning_level": "0", "warning_label": "绿灯（正常）", "limit": {"value": 10, "unit": "working_days"},
            "extension_days": 0, "basis": "materials_complete", "started_on": "2026-11-23"}
NOTICE = {"case_no": "20261120100000123-431224100-AB12", "round": 1, "title": "一次性告知书", "item_name": "高龄津贴申领",
          "materials": [{"name": "居民户口簿", "problem": "missing", "detail": ""},
                        {"name": "高龄津贴申请表", "problem": "defective", "detail": "申请人未签名，请本人签字或按手印"}],
          "other": ["请补充近6个月收入证明"], "legal_basis": "《中华人民共和国行政许可法》第三十二条",
          "issued_at": "2026-11-20T05:00:00+00:00", "issued_by": "王窗口", "late": False}


def a_case(**overrides):
    case = {
        "case_no": "20261120100000123-431224100-AB12", "status": "accepted", "item_code": "HH-MZ-006",
        "item_name": "高龄津贴申领", "item_version": 1, "township_code": "431224100", "channel": "mini_program",
        "applicant": {"name": "张三", "id_number": FULL_ID, "phone": "13812345678"},
        "agent": None, "submitted_at": "2026-11-20T01:30:00+00:00", "application_time": "20261120T093000",
        "notices": [{"round": 1, "issued_at": "2026-11-20T05:00:00+00:00", "issued_by": "clerk.wang", "late": False,
                     "problem_count": 3, "supplemented_at": "2026-11-23T02:00:00+00:00"}],
        "materials_complete_at": "2026-11-23T02:00:00+00:00",
        "accepted_at": "2026-11-23T03:00:00+00:00", "accepted_on": "2026-11-23", "acceptance_basis": "materials_complete",
        "due_date": "2026-12-07", "history_count": 5, "version": 5,
    }
    case.update(overrides)
    return case


def rejected_case(**overrides):
    return a_case(**{"status": "concluded_rejected", "concluded_at": "2026-11-30T03:00:00+00:00", "outcome": {
        "result": "rejected", "opinion": "经核查户籍信息", "level": "township",
        "reasons": "申请人未满八十周岁，不符合高龄津贴发放条件",
        "legal_basis": "《中华人民共和国老年人权益保障法》第三十三条", "concluded_at": "2026-11-30T03:00:00+00:00",
        "concluded_by": "clerk.wang", "review_rights": "..."}, **overrides})


def approved_case(**overrides):
    return a_case(**{"status": "concluded_approved", "concluded_at": "2026-11-30T03:00:00+00:00", "outcome": {
        "result": "approved", "opinion": "经审核，符合高龄津贴发放条件", "level": "township",
        "concluded_at": "2026-11-30T03:00:00+00:00", "concluded_by": "clerk.wang"}, **overrides})
