"""The members page's "Export CSV": the file of exactly what the page's filter and sort show,
all pages of it, downloaded with the session that shows the page."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

from webapp.models import Role

from .conftest import HX


def _export_href(html: str) -> str:
    found = re.search(r'<a class="button small export" id="export-csv" href="([^"]+)"', html)
    assert found, html
    return unescape(found.group(1))


def _csv_names(client, href: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get(href)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    return [row["name"] for row in rows]


def test_the_export_is_the_filtered_list_across_all_pages(team, login_as):
    client = login_as(team.owner)
    page = client.get(
        f"/orgs/{team.org.id}/members?role=CONTRIBUTOR&sort_by=name&sort_ascending=false"
        "&page_size=2&page=2"
    )
    assert page.status_code == 200
    href = _export_href(page.get_data(as_text=True))
    assert href.startswith(f"/api/organizations/{team.org.id}/users.csv?")
    assert "page" not in href  # every page of the list, not the one shown

    assert _csv_names(client, href) == [f"Person {n}" for n in reversed(range(5))]


def test_the_link_follows_the_filter_when_htmx_swaps_the_table(team, login_as):
    client = login_as(team.owner)
    region = client.get(f"/orgs/{team.org.id}/members?q=vera", headers=HX)
    assert region.status_code == 200
    assert _csv_names(client, _export_href(region.get_data(as_text=True))) == ["Vera Viewer"]


def test_a_viewer_exports_what_they_may_see(team, login_as):
    client = login_as(team.viewer)
    page = client.get(f"/orgs/{team.org.id}/members?role={Role.ADMIN.name}")
    assert _csv_names(client, _export_href(page.get_data(as_text=True))) == ["Adam Admin"]
