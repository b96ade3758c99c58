"""User agents in words ("Chrome 120 on Windows") for people reading their own log records."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Unknown browser"
# Real user agents stay well under this; ua-parser costs grow with length (~60 ms for 8 KiB
# of junk) and the extra text never changes the answer. The stored user agent is not cut.
DESCRIBE_CHARS = 1024


def describe_user_agent(ua: str | None) -> str:
    """`Mozilla/5.0 (Windows NT 10.0; …) Chrome/120.0…` → "Chrome 120 on Windows"."""
    if not ua or ua == "-":
        return UNKNOWN
    return _describe(ua[:DESCRIBE_CHARS])


@lru_cache(maxsize=4_096)  # keys are at most DESCRIBE_CHARS long: at most a few MB
def _describe(ua: str) -> str:
    result = parse(ua)
    agent, os, device = result.user_agent, result.os, result.device
    browser = UNKNOWN
    if agent is not None and agent.family != "Other":
        browser = f"{agent.family} {agent.major}" if agent.major else agent.family
    if os is not None and os.family != "Other":
        browser = f"{browser} on {os.family}"
    if device is not None and device.family == "Spider":
        browser = f"{browser} (robot)"
    return browser
