"""docs/lifecycle.md's transition table is the code's (a reader can trust it)."""
from pathlib import Path

from chalicelib.domain import lifecycle

DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"


def test_transition_table_in_the_docs_matches_the_state_machine():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- transitions:start -->")[1].split("<!-- transitions:end -->")[0]
    rows = [line for line in table.strip().splitlines()[2:]]
    expected = [f"| `{action}` | {label} | " + ", ".join(f"`{s}`" for s in states) + " | "
                + ", ".join(sorted(lifecycle.CAPACITIES[action])) + " |"
                for action, label, states in lifecycle.transition_table()]
    assert rows == expected


def test_every_state_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for state in lifecycle.STATUS_LABELS:
        assert f"| `{state}` |" in text, state
