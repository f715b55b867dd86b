"""Static files in production: gunicorn alone, with DEBUG off and no proxy,
serves the admin's, the browsable API's and Swagger UI's files from a real
`collectstatic` (WhiteNoise, hashed names, gzip copies)."""

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium_page, needs_chromium
from tests.processes import database_url_for_tests
from tests.served import collectstatic, gunicorn, http_get, production_env

pytestmark = pytest.mark.slow

# What WhiteNoise sends for a file whose name carries its content's hash.
FOR_EVER = "max-age=315360000, public, immutable"
HASH = r"\.[0-9a-f]{12}\."
# Django admin's --secondary colour (#417690): the header's background once
# admin/css/base.css applies; a page without it has a transparent header.
ADMIN_HEADER_BACKGROUND = "rgb(65, 118, 144)"


@pytest.fixture(scope="module")
def site(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The README's admin/API pool, after `collectstatic` into a new STATIC_ROOT."""
    workdir = tmp_path_factory.mktemp("static_site")
    env = production_env(STATIC_ROOT=str(workdir / "static"), DATABASE_URL=database_url_for_tests())
    collectstatic(env)
    with gunicorn(
        env, "--workers", "1", "--worker-class", "gthread", "--threads", "4",
        log_path=workdir / "gunicorn.log",
    ) as base_url:  # fmt: skip
        yield base_url


def asset_url(site: str, page: str, pattern: str, **headers: str) -> str:
    """The URL of the asset ``pattern`` finds in the HTML of ``page``."""
    html = http_get(site + page, headers).text
    found = re.search(pattern, html)
    assert found, f"{pattern} not in {page}"
    return site + found.group(1)


def test_the_admin_stylesheet_is_served_under_its_hashed_name_for_ever(site):
    url = asset_url(site, "/admin/login/", rf'href="(/static/admin/css/base{HASH}css)"')

    answer = http_get(url)

    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/css")
    assert answer.headers["Cache-Control"] == FOR_EVER


def test_swagger_ui_script_is_served_under_its_hashed_name_for_ever(site):
    bundle = rf'src="(/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle{HASH}js)"'
    url = asset_url(site, "/api/docs/", bundle)

    answer = http_get(url)

    assert answer.status == 200
    assert "javascript" in answer.headers["Content-Type"]
    assert answer.headers["Cache-Control"] == FOR_EVER


def test_the_browsable_api_stylesheet_is_served_under_its_hashed_name_for_ever(site):
    # An anonymous browser gets the browsable API's 401 page, styled.
    bootstrap = rf'href="(/static/rest_framework/css/bootstrap\.min{HASH}css)"'
    url = asset_url(site, "/api/v1/conversations/", bootstrap, Accept="text/html")

    answer = http_get(url)

    assert answer.status == 200
    assert answer.headers["Cache-Control"] == FOR_EVER


def test_a_client_that_accepts_gzip_gets_the_compressed_copy(site):
    url = asset_url(site, "/admin/login/", rf'href="(/static/admin/css/base{HASH}css)"')

    plain = http_get(url)
    compressed = http_get(url, {"Accept-Encoding": "gzip"})

    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed.headers["Vary"]
    assert len(compressed.body) < len(plain.body) / 2


@needs_chromium
def test_chromium_shows_the_admin_login_page_styled(site, tmp_path):
    static_answers: dict[str, int] = {}
    screenshot = tmp_path / "admin-login.png"

    with chromium_page() as page:
        page.on(
            "response",
            lambda response: static_answers.__setitem__(response.url, response.status)
            if "/static/" in response.url
            else None,
        )
        page.goto(site + "/admin/login/", wait_until="load")
        header_background = page.eval_on_selector(
            "#header", "header => getComputedStyle(header).backgroundColor"
        )
        page.screenshot(path=str(screenshot), full_page=True)

    assert header_background == ADMIN_HEADER_BACKGROUND
    assert static_answers, "the page loaded no static file"
    assert set(static_answers.values()) == {200}, static_answers
    assert screenshot.stat().st_size > 10_000
