"""The benchmark harness's own arithmetic and parsing (``scripts/bench.py``), not the benchmark.

``make bench`` is not run in CI: it takes minutes and measures a machine. These tests check the
parts that could silently report wrong figures: reading wrk's output, dividing each Roster run
by the bare runs beside it, medians and spreads, the dataset's dimensions at every scale, and
the table's layout.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


bench = _load("bench")
bare = _load("bench_bare_app")

WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:8001/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms  210.45us   4.90ms   90.12%
    Req/Sec     3.05k   120.33     3.30k    80.00%
  9123 requests in 3.00s, 1.42MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3041.07
Transfer/sec:    484.21KB
bad_status 7
"""


def test_wrk_output_is_read() -> None:
    got = bench.parse_wrk(WRK_OUTPUT)
    assert got == bench.WrkResult(
        requests=9123,
        seconds=3.0,
        rps=3041.07,
        non_2xx_3xx=5,
        bad_status=7,
        socket_errors=3,
    )


def test_wrk_output_without_errors_and_in_milliseconds() -> None:
    text = "  12 requests in 999.50ms, 1.00KB read\nRequests/sec:     12.01\nbad_status 0\n"
    got = bench.parse_wrk(text)
    assert (got.requests, got.rps, got.socket_errors, got.non_2xx_3xx) == (12, 12.01, 0, 0)
    assert got.seconds == pytest.approx(0.9995)


def test_anything_else_is_not_wrk_output() -> None:
    with pytest.raises(ValueError, match="not wrk output"):
        bench.parse_wrk("wrk: command not found")


def test_each_run_is_divided_by_the_mean_of_the_bare_runs_beside_it() -> None:
    sequence = [("bare", 1000.0), ("T1", 100.0), ("bare", 3000.0), ("T13", 40.0), ("bare", 1000.0)]
    normed = bench.norm_ratios(sequence)
    assert normed == {"T1": pytest.approx(0.05), "T13": pytest.approx(0.02)}


def test_a_run_without_a_bare_neighbour_is_refused() -> None:
    with pytest.raises(ValueError, match="no bare run"):
        bench.norm_ratios([("T1", 100.0), ("T5", 10.0)])


def test_rows_against_another_target_divide_within_the_round() -> None:
    targets = [
        bench.Target("T1", "page 0", "/p0", "token", goal=0.2),
        bench.Target("T13", "last page", "/last", "token", "T1", 0.9),
        bench.Target("T12", "search", "/q", "token", "T1", 0.5),
    ]
    ratios = bench.round_ratios(targets, {"T1": 0.10, "T13": 0.08})
    assert ratios == {"T1": pytest.approx(0.10), "T13": pytest.approx(0.8)}


def test_median_and_spread() -> None:
    spread = bench.Spread.of([0.3, 0.1, 0.2, 0.5])
    assert (spread.median, spread.low, spread.high) == (pytest.approx(0.25), 0.1, 0.5)
    with pytest.raises(ValueError):
        bench.Spread.of([])


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.0062, "0.006"), (0.028, "0.028"), (0.34, "0.34"), (1.134, "1.13"), (12.44, "12.4")],
)
def test_ratios_are_written_as_the_issue_writes_them(value: float, shown: str) -> None:
    assert bench.fmt_ratio(value) == shown


def test_spreads_say_their_unit_once() -> None:
    assert bench.fmt_spread(bench.Spread(0.55, 0.52, 0.61), bench.fmt_seconds) == "0.52-0.61 s"
    assert bench.fmt_spread(bench.Spread(0.05, 0.02, 0.3), bench.fmt_seconds) == "20.0 ms-0.30 s"
    assert bench.fmt_spread(bench.Spread(0.2, 0.1, 0.3)) == "0.10-0.30"


def test_goals_are_met_from_the_right_side() -> None:
    assert bench.met(0.21, 0.2) == "yes"
    assert bench.met(0.19, 0.2) == "NO"
    assert bench.met(6, 6, at_most=True) == "yes"
    assert bench.met(7, 6, at_most=True) == "NO"
    assert bench.met(None, 0.2) == bench.met(0.5, None) == "—"


def test_the_full_dataset_is_the_issues() -> None:
    sizes = bench.Sizes.at(1.0)
    assert (sizes.users, sizes.organizations, sizes.memberships) == (200_000, 10_000, 1_000_000)
    assert (sizes.big_org, sizes.owner_orgs, sizes.bulk_n) == (200_000, 1_000, 10_000)
    small = sizes.small_org_sizes()
    assert len(small) == sizes.organizations - 1
    assert sizes.big_org + sum(small) == sizes.memberships
    assert min(small) == 80 and max(small) <= 81
    assert sizes.tag == "full"


@pytest.mark.parametrize("scale", [0.001, 0.02, 0.1, 0.5])
def test_every_scale_adds_up(scale: float) -> None:
    sizes = bench.Sizes.at(scale)
    small = sizes.small_org_sizes()
    assert sizes.big_org + sum(small) == sizes.memberships
    assert min(small) >= 2  # the creator and the owner fit in each of the owner's
    assert sizes.owner_orgs <= sizes.organizations
    assert sizes.big_org <= sizes.users
    assert sizes.bulk_n <= sizes.users - 2
    assert sizes.tag != "full" and str(sizes.users) in sizes.marker


def test_a_scale_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError):
        bench.Sizes.at(0)
    with pytest.raises(ValueError):
        bench.Sizes.at(1.5)


def test_the_table_aligns_text_left_and_figures_right() -> None:
    table = bench.format_table(["target", "goal", "median"], [["T1", "≥ 0.2", "0.12"]], left=2)
    assert table.splitlines() == [
        "target | goal  | median",
        "-------+-------+-------",
        "T1     | ≥ 0.2 |   0.12",
    ]


def test_the_bare_app_answers_a_small_json_dict() -> None:
    answer = bare.create_bare_app().test_client().get("/")
    assert answer.status_code == 200
    assert answer.get_json() == bare.ANSWER


def test_roster_and_bare_get_the_same_gunicorn_settings() -> None:
    threaded = bare.server_options("127.0.0.1:1", "roster", 8)
    assert threaded["workers"] == 1 and threaded["threads"] == 8
    assert threaded["worker_class"].__name__ == "RosterWorker"
    sync = bare.server_options("127.0.0.1:1", "sync", 8)
    assert (sync["worker_class"], sync["threads"], sync["workers"]) == ("sync", 1, 1)
    assert {k: v for k, v in sync.items() if k not in ("worker_class", "threads")} == {
        k: v for k, v in threaded.items() if k not in ("worker_class", "threads")
    }
    with pytest.raises(ValueError):
        bare.server_options("127.0.0.1:1", "gevent", 8)


def _bulk(op: str, n: int, statements: int = 6, seconds: float = 0.1) -> bench.BulkResult:
    return bench.BulkResult(op, n, statements, [seconds])


def test_a_removal_the_server_refuses_does_not_meet_its_goal() -> None:
    sizes = bench.Sizes.at(0.02)
    big, small = sizes.bulk_n, sizes.bulk_n // 10
    results = [_bulk(op, n) for op in ("add", "update", "remove") for n in (1, 100, small, big)]
    how = "DELETE .../users/{ids}"
    rows = {r[0]: r for r in bench.bulk_rows(results, sizes, False, how, 414)}
    removal = next(r for label, r in rows.items() if label.startswith("T9 remove"))
    assert "DELETE" in removal[0] and removal[4] == "NO: server 414"
    update = next(r for label, r in rows.items() if label.startswith("T9 update"))
    assert update[4] == "yes"
    untried = bench.bulk_rows(results, sizes, False, how, None)
    assert any(r[4] == "yes (server not tried)" for r in untried)
    reached = bench.bulk_rows(results, sizes, False, how, 422)
    assert [r[4] for r in reached if r[0].startswith("T9 remove")] == ["yes"]


def test_a_bulk_run_that_failed_is_not_counted_as_met() -> None:
    sizes = bench.Sizes.at(0.02)
    failed = bench.BulkResult("add", sizes.bulk_n, error="500: boom")
    results = [_bulk("add", 1), _bulk("add", 100), failed]
    rows = bench.bulk_rows(results, sizes, False, "POST .../users/remove (JSON body)")
    t7 = rows[0]
    assert t7[2] == "6 / 6" and t7[4].startswith("NO: 500")
    assert any(r[4].startswith("not measured: 500") for r in rows)


def _data() -> bench.Dataset:
    return bench.Dataset(owner_id=1, admin_id=2, big_org=7, small_org=8, built="cached")


FACTS = {"owner's organizations": 20, "small org members": 81, "big org members": 4000}


@pytest.mark.parametrize("has_cursor", [True, False])
def test_deep_pages_go_by_cursor_when_the_api_gives_one(
    monkeypatch: pytest.MonkeyPatch, has_cursor: bool
) -> None:
    def fake_fetch(port: int, method: str, path: str, headers: dict[str, str]) -> tuple:
        page = int(path.partition("page_number=")[2] or 0)
        body = {"total_pages": 160, "items": []}
        if has_cursor:
            body |= {"next_cursor": f"after/{page}+", "prev_cursor": None}
        return 200, {}, bench.json.dumps(body).encode()

    monkeypatch.setattr(bench, "fetch", fake_fetch)
    found = bench.cursor_targets(1, _data(), {})
    targets = bench.make_targets(_data(), {"total_pages": 160}, FACTS, by_cursor=bool(found))
    by_page = {t.key: t for t in targets}
    if has_cursor:
        assert [t.path for t in found] == [
            "/api/organizations/7/users?cursor=after%2F78%2B",
            "/api/organizations/7/users?cursor=after%2F158%2B",
        ]
        assert all(t.goal == 0.9 and t.reference == "T1" for t in found)
        assert by_page["T13m"].goal is None and by_page["T13l"].goal is None
    else:
        assert found == []
        assert by_page["T13m"].goal == by_page["T13l"].goal == 0.9
    assert by_page["T13l"].path.endswith("page_number=159")


profiler = _load("bench_profile")


@pytest.mark.parametrize(
    ("filename", "function", "area"),
    [
        ("~", "<method 'execute' of 'sqlite3.Cursor' objects>", "driver"),
        ("/venv/site-packages/psycopg/cursor.py", "execute", "driver"),
        ("/venv/site-packages/sqlalchemy/orm/session.py", "execute", "sqlalchemy"),
        ("/venv/site-packages/jinja2/runtime.py", "call", "jinja"),
        ("/work/main/templates/members.html", "root", "jinja"),
        ("~", "<method 'to_json' of 'pydantic_core._pydantic_core.SchemaSerializer'>", "pydantic"),
        ("/venv/site-packages/werkzeug/local.py", "__get__", "flask+werkzeug"),
        ("/venv/site-packages/flask_login/utils.py", "_get_user", "flask+werkzeug"),
        ("/work/main/webapp/services/member_list.py", "list_members", "roster"),
        ("/usr/lib/python3.11/enum.py", "__call__", "other"),
        ("~", "<built-in method builtins.isinstance>", "other"),
    ],
)
def test_profiled_code_is_put_in_its_area(filename: str, function: str, area: str) -> None:
    assert profiler.area_of(filename, function) == area


def test_area_shares_add_up_to_the_whole_profile() -> None:
    stats = {
        ("~", 0, "<method 'execute' of 'sqlite3.Cursor' objects>"): (1, 1, 0.25, 0.25, {}),
        ("/x/sqlalchemy/engine/base.py", 1, "execute"): (2, 2, 0.5, 0.9, {}),
        ("/x/webapp/api/routes.py", 2, "list_members"): (1, 1, 0.25, 1.0, {}),
    }
    got = profiler.shares(stats)
    assert got["driver"] == pytest.approx(0.25)
    assert got["sqlalchemy"] == pytest.approx(0.5)
    assert got["roster"] == pytest.approx(0.25)
    assert sum(got.values()) == pytest.approx(1.0)
    assert profiler.calls(stats) == 4
    assert profiler.roster_top(stats, requests=2) == [("list_members (api/routes.py:2)", 500.0)]


def test_a_profile_times_and_profiles_the_request() -> None:
    def request() -> int:
        sum(range(1000))
        return 200

    got = profiler.profile("T1", "label", request, requests=5, warmup=1)
    assert got.ms > 0
    assert got.calls >= 2  # the request and what it calls
    assert sum(got.shares.values()) == pytest.approx(1.0)

    def refused() -> int:
        return 401

    with pytest.raises(RuntimeError, match="401"):
        profiler.profile("T1", "label", refused, requests=1)


def test_the_floor_replays_captured_statements_with_their_parameters(tmp_path: Path) -> None:
    import datetime as dt

    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'floor.db'}"
    with create_engine(url).begin() as conn:
        conn.exec_driver_sql("create table t (id integer, at text, blob blob)")
        conn.exec_driver_sql(
            "insert into t values (1, '2026-01-02 03:04:05', x'00ff'), (2, 'x', null)"
        )
    when = dt.datetime(2026, 1, 1, 12, 0)
    captured = {
        "T1": [
            ("select id, at from t where id = ? and ? > '2000'", (1, when), False),
            ("select count(*) from t where blob = ?", (b"\x00\xff",), False),
        ]
    }
    replay = bare.load_replay(bare.dump_replay(captured))
    assert replay == captured
    floor = bare.create_floor_app(url, replay)
    client = floor.test_client()
    assert client.get("/T1").get_json() == {"results": [[[1, "2026-01-02 03:04:05"]], [[1]]]}
    assert client.get("/T9").status_code == 404
    assert client.get("/").get_json() == bare.ANSWER
    floor.extensions["floor_engine"].dispose()


def test_the_floor_runs_as_roster_does_on_postgresql(database_url: str) -> None:
    """Outside a transaction (each statement its own, so ``now()`` is its own start), and
    prepared only where Roster's statement was."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: the floor replays in one transaction, as Roster reads")
    prepared_here = "select count(*) from pg_prepared_statements where not from_sql"
    replay = {
        "P": [
            ("select %(a)s::int + 1", {"a": 1}, True),
            ("select now() = statement_timestamp()", {}, False),
            (prepared_here, {}, False),
        ],
        "N": [("select %(a)s::int + 2", {"a": 1}, False), (prepared_here, {}, False)],
    }
    floor = bare.create_floor_app(database_url, replay)
    client = floor.test_client()
    try:
        assert client.get("/N").get_json() == {"results": [[[3]], [[0]]]}
        assert client.get("/P").get_json() == {"results": [[[2]], [[True]], [[1]]]}
    finally:
        floor.extensions["floor_engine"].dispose()


def test_named_parameters_survive_the_replay_file() -> None:
    import datetime as dt

    captured = {"T10": [("select %(a)s, %(b)s", {"a": 1, "b": dt.datetime(2026, 2, 3)}, True)]}
    assert bare.load_replay(bare.dump_replay(captured)) == captured


def test_every_floor_row_names_its_target_and_is_served_by_the_floor_app() -> None:
    target = bench.Target("T1", "T1 label", "/api/x", "token", goal=0.2)
    floor = bench.floor_target(target)
    assert (floor.key, floor.path, floor.server, floor.auth) == ("FT1", "/T1", "floor", "none")
    assert floor.goal is None and floor.reference == "bare"


def test_captured_statements_say_which_roster_prepared(app, make_user, api) -> None:  # type: ignore[no-untyped-def]
    """The floor prepares what Roster prepared: on PostgreSQL the member page's token and page
    statements (read outside a transaction); on SQLite nothing."""
    from webapp.extensions import db
    from webapp.models import Via
    from webapp.services import organizations

    owner = make_user()
    org = organizations.create_organization(owner, "Captured", via=Via.CLI)
    client = api(owner)
    client.get("/api/organizations")  # the token's last_used_at, written once a minute
    with bench.capturing_statements(db.engine) as log:
        assert client.get(f"/api/organizations/{org.id}/users").status_code == 200
    assert len(log) == 2, log
    expected = db.engine.dialect.name == "postgresql"
    assert [prepared for _sql, _params, prepared in log] == [expected, expected], log
