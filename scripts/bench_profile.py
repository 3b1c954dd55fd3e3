"""Where a request's time goes: ``scripts/bench.py --profile``.

Each load target is requested in-process (Flask's test client, the same credentials as under
load) first without a profiler, to time it, then under ``cProfile``. The profile's own time
(``tottime``) is summed by where the code lives (SQLAlchemy, Jinja, pydantic, Flask and
Werkzeug, the database driver, Roster's own code, the rest), which adds up to the whole
request. Beside it stands the budget: how long one Roster request may take at the target's
goal, from the bare app's requests per second in the same run (``1 / (goal x bare req/s)``;
that includes the server's own share, which the in-process time does not).

cProfile slows Python code more than C, so the shares lean towards Python; the unprofiled
milliseconds are the real cost.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# (area, substrings of a code file's path or a built-in's name); first match wins.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("driver", ("sqlite3", "/psycopg", "psycopg_c", "psycopg_binary", "_psycopg")),
    ("sqlalchemy", ("/sqlalchemy/", "/flask_sqlalchemy/")),
    ("jinja", ("/jinja2/", "/markupsafe/", "/templates/", "<template>")),
    ("pydantic", ("/pydantic/", "/pydantic_core/", "pydantic_core")),
    ("flask+werkzeug", ("/flask/", "/werkzeug/", "/flask_", "/itsdangerous/", "/wtforms/")),
    ("roster", ("/webapp/",)),
)
ORDER = [name for name, _ in AREAS] + ["other"]


def area_of(filename: str, function: str) -> str:
    """The area a profiled function belongs to: by file, or for a built-in (``~``) by name."""
    where = function if filename == "~" else filename.replace("\\", "/")
    for name, marks in AREAS:
        if any(mark in where for mark in marks):
            return name
    return "other"


def shares(stats: dict[Any, tuple[Any, ...]]) -> dict[str, float]:
    """Each area's fraction of the profile's own time (``pstats.Stats.stats``)."""
    seconds = dict.fromkeys(ORDER, 0.0)
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        seconds[area_of(filename, function)] += tottime
    total = sum(seconds.values()) or 1.0
    return {name: value / total for name, value in seconds.items()}


def calls(stats: dict[Any, tuple[Any, ...]]) -> int:
    """Function calls in the profile, primitive or not."""
    return sum(nc for (_cc, nc, _tt, _ct, _callers) in stats.values())


@dataclass
class Profiled:
    """One target's in-process profile."""

    key: str
    label: str
    ms: float  # unprofiled, per request
    calls: int  # Python-visible calls per request
    shares: dict[str, float] = field(default_factory=dict)
    top: list[tuple[str, float]] = field(default_factory=list)  # Roster functions, cumulative
    budget_ms: float | None = None  # a whole request at the goal


def roster_top(
    stats: dict[Any, tuple[Any, ...]], requests: int, n: int = 5
) -> list[tuple[str, float]]:
    """Roster's functions with the most cumulative time per request (ms), , most first."""
    ours = [
        (f"{function} ({filename.rsplit('/webapp/', 1)[-1]}:{line})", cumulative / requests * 1e3)
        for (filename, line, function), (_cc, _nc, _tt, cumulative, _c) in stats.items()
        if "/webapp/" in filename.replace("\\", "/")
    ]
    ours.sort(key=lambda item: item[1], reverse=True)
    return ours[:n]


def profile(
    key: str, label: str, request: Callable[[], int], requests: int, warmup: int = 20
) -> Profiled:
    """Time ``request`` (which returns the status; 200 expected) and profile it."""
    for _ in range(warmup):
        status = request()
        if status != 200:
            raise RuntimeError(f"{label}: {status}")
    started = time.perf_counter()
    for _ in range(requests):
        request()
    ms = (time.perf_counter() - started) / requests * 1e3
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        request()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return Profiled(
        key,
        label,
        ms,
        round(calls(stats) / requests),
        shares(stats),
        roster_top(stats, requests),
    )


def table(profiles: Sequence[Profiled]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: target, ms now, ms allowed at the goal, calls, each area's share."""
    header = ["target", "ms/req", "at goal", "calls/req", *ORDER]
    rows = []
    for p in profiles:
        budget = f"{p.budget_ms:.2f}" if p.budget_ms is not None else ""
        rows.append(
            [p.label, f"{p.ms:.2f}", budget, f"{p.calls:,}"]
            + [f"{p.shares.get(name, 0.0) * 100:.0f} %" for name in ORDER]
        )
    return header, rows
