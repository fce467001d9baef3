"""Windows (窗口) and A/B posts (AB岗) of a township service center.

Each window has an A (primary) and a B (backup) staff member and serves a set of items
(by code) or categories; one window may be the default for everything else. A case goes to
its window's queue when it is filed; the queue is worked by the A post, or by the B post
while the A post is marked absent (``shared/docs/domain.md`` section 2: "a window is never
unattended"). Shapes: a window is ``{"window": "2", "name": "民政窗口", "a_post": subject,
"b_post": subject, "a_absent": bool, "items": [item codes], "categories": [category keys],
"default": bool}``.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

#: The queue of a township with no window set up for a case's item: every clerk of the township works it.
UNASSIGNED = "-"


def route(windows: Iterable[Mapping[str, Any]], item_code: str, category: str | None) -> str:
    """The window number a case of ``item_code`` goes to: the window listing the item, else
    the one listing its category, else the default window, else :data:`UNASSIGNED`."""
    windows = list(windows)
    for match in (lambda w: item_code in (w.get("items") or ()),
                  lambda w: category is not None and category in (w.get("categories") or ()),
                  lambda w: bool(w.get("default"))):
        for window in sorted(windows, key=lambda w: w["window"]):
            if match(window):
                return window["window"]
    return UNASSIGNED


def queue_key(township_code: str, window: str) -> str:
    """The queue index partition of a window: ``<township code>#<window>``."""
    return f"{township_code}#{window}"


def on_duty(window: Mapping[str, Any]) -> str | None:
    """The subject working the window's queue now: A, or B while A is absent."""
    return window.get("b_post") if window.get("a_absent") else window.get("a_post")


def windows_worked_by(subject: str, windows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The windows whose queue ``subject`` works now (A post, or B post while A is absent),
    plus :data:`UNASSIGNED` (every clerk of the township sees cases no window serves)."""
    return sorted(w["window"] for w in windows if on_duty(w) == subject) + [UNASSIGNED]
