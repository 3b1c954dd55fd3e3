"""The dashboard costs what the API costs: it renders from what the service call returned.

A page of members, a bulk change and an inline change each issue the statements of the
matching API call, plus at most the page's own rows (the API's answer to a change is the
Account; the dashboard also draws the rows it shows). The API's caller is found by its token,
the dashboard's by its session: one statement each; for a read, the token's statement also
checks access, which the dashboard does with one statement more.
"""

from __future__ import annotations

import pytest

from webapp.models import Role, Via
from webapp.services import members, users

from .conftest import ApiClient, csrf_token, login

HX = {"HX-Request": "true"}


@pytest.fixture
def fronts(app, make_user, make_org, api):
    owner = make_user(name="Olivia Owner")
    org = make_org(owner, "Acme")
    ids = users.create_users(
        [(f"p{n:02d}@example.com", f"Person {n:02d}") for n in range(40)], via=Via.CLI
    )
    members.add_members(owner, org.id, ids, role=Role.CONTRIBUTOR, via=Via.CLI)
    client: ApiClient = api(owner)
    assert client.get("/api/organizations").status_code == 200  # the token's last use is now
    web = app.test_client()
    login(web, owner)
    return org.id, ids, client, web, csrf_token(web, "/orgs")


def _count(count_statements, call):
    with count_statements() as log:
        response = call()
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return log.count


@pytest.mark.parametrize("query", ["", "?sort_by=email&page_size=10", "?role=contributor&q=person"])
def test_a_page_of_members_costs_what_the_api_list_costs(fronts, count_statements, query):
    org_id, _, api, web, _ = fronts
    api_query = query.replace("page=", "page_number=")
    by_api = _count(
        count_statements, lambda: api.get(f"/api/organizations/{org_id}/users{api_query}")
    )
    page = _count(count_statements, lambda: web.get(f"/orgs/{org_id}/members{query}"))
    partial = _count(
        count_statements, lambda: web.get(f"/orgs/{org_id}/members{query}", headers=HX)
    )
    print(f"\nmembers{query or ' (unfiltered)'}: API {by_api}, partial {partial}, page {page}")
    # The API's token statement also reads the caller's Account (tokens.authenticate_token_for);
    # the dashboard finds its user by the session, then checks access with a statement of its
    # own. The whole page also reads my last-joined organizations, for the switcher.
    assert (partial, page) == (by_api + 1, by_api + 2), (partial, page, by_api)


@pytest.mark.parametrize("size", [1, 25])
def test_a_bulk_change_costs_the_api_change_and_the_pages_rows(fronts, count_statements, size):
    org_id, ids, api, web, csrf = fronts
    chosen = ids[:size]
    by_api = _count(
        count_statements,
        lambda: api.put(
            f"/api/organizations/{org_id}/users", json={"user_ids": chosen, "role": "viewer"}
        ),
    )
    bulk = _count(
        count_statements,
        lambda: web.post(
            f"/orgs/{org_id}/members/bulk",
            data={"action": "role", "role": "ACCOUNTING", "user_ids": [str(i) for i in chosen]},
            headers={**HX, "X-CSRFToken": csrf},
        ),
    )
    print(f"\nbulk change of {size}: API {by_api}, dashboard {bulk}")
    assert bulk == by_api + 1, (bulk, by_api)


def test_an_inline_change_costs_the_api_change_and_its_row(fronts, count_statements):
    org_id, ids, api, web, csrf = fronts
    by_api = _count(
        count_statements,
        lambda: api.put(
            f"/api/organizations/{org_id}/users", json={"user_ids": [ids[0]], "role": "viewer"}
        ),
    )
    row = _count(
        count_statements,
        lambda: web.post(
            f"/orgs/{org_id}/members/{ids[1]}",
            data={"role": "ACCOUNTING"},
            headers={**HX, "X-CSRFToken": csrf},
        ),
    )
    print(f"\ninline change: API {by_api}, dashboard {row}")
    assert row == by_api + 1, (row, by_api)
