"""ISO 8601 durations (PnYnMnWnD) as days.

Rule windows are compared as day counts: a year is 365.25 days and a month 30.4375 days (the
average Gregorian month), so "P12M" is 365.25 days. Calendar arithmetic would make a window's
length depend on the month it starts in, which reviewers found harder to reason about.
"""

from __future__ import annotations

import re
from functools import lru_cache

_DURATION = re.compile(r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


@lru_cache(maxsize=4096)
def duration_days(text: str) -> float:
    """Days in an ISO 8601 duration; raises ValueError on anything else."""
    match = _DURATION.match(text)
    if not match or text.lstrip("-") == "P":
        raise ValueError(f"not an ISO 8601 duration like P12M or P90D: {text!r}")
    sign, years, months, weeks, days = match.groups()
    total = (
        int(years or 0) * DAYS_PER_YEAR
        + int(months or 0) * DAYS_PER_MONTH
        + int(weeks or 0) * 7
        + int(days or 0)
    )
    return -total if sign else total


def is_duration(text: object) -> bool:
    return isinstance(text, str) and bool(_DURATION.match(text)) and text.lstrip("-") != "P"
