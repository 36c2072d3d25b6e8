"""The dashboard in Debian's chromium, driven by Playwright (no downloaded browser).

Real ``tron-sim`` and ``point-tron`` processes; the browser logs in through the form,
reaches /admin, and the test proves that the charts drew (canvas pixels and the data
attribute the chart code sets) and that new blocks arrive live over the WebSocket.
Needs /usr/bin/chromium: scripts/install-tools.sh installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.point_tron.conftest import (
    bin_path,
    listening_port,
    point_tron_env,
    running,
    tron_sim,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# How many pixels of a canvas differ from transparent: > 0 once something was drawn.
COUNT_INK = """(id) => {
  const c = document.getElementById(id);
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) ink++;
  return ink;
}"""


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run scripts/install-tools.sh")
    with (
        tron_sim(block_interval=0.3, initial_blocks=0) as rpc_url,
        running(
            [bin_path("point-tron")], point_tron_env(tmp_path, rpc_url, TRON_POLLING_INTERVAL="100")
        ) as app,
    ):
        port = listening_port(app)
        yield f"http://127.0.0.1:{port}"
        assert app.terminate() == 0


def test_login_dashboard_charts_and_live_blocks(base_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )
            page.on(
                "request",
                lambda req: (
                    None
                    if req.url.startswith((base_url, base_url.replace("http", "ws")))
                    else problems.append(f"off-site request: {req.url}")
                ),
            )

            page.goto(f"{base_url}/admin")  # no token yet: back to the login page
            page.wait_for_url(f"{base_url}/login")

            page.fill("#username", "admin")
            page.fill("#password", "wrong")
            page.click("#login-submit")
            page.wait_for_selector("#login-error:has-text('wrong username or password')")
            assert [p for p in problems if "401" not in p] == []
            problems.clear()  # the browser logs the failed login's 401 as a console error

            page.fill("#password", "admin123")
            page.click("#login-submit")
            page.wait_for_url(f"{base_url}/admin")

            # the score chart drew points, and its canvas has ink on it
            page.wait_for_function(
                "() => Number(document.getElementById('points-chart').dataset.drawnPoints) > 0",
                timeout=15000,
            )
            assert page.evaluate(COUNT_INK, "points-chart") > 100
            page.wait_for_function(
                "() => document.getElementById('hourly-chart').dataset.drawnPoints !== undefined"
            )
            assert page.evaluate(COUNT_INK, "hourly-chart") > 100
            page.wait_for_function(
                "() => Number(document.getElementById('kline-chart').dataset.drawnPoints) > 0"
            )
            assert page.evaluate(COUNT_INK, "kline-chart") > 100

            # live: the WebSocket connects and new blocks arrive without a reload
            page.wait_for_function("() => document.body.dataset.ws === 'live'", timeout=10000)
            first = int(page.evaluate("() => document.body.dataset.lastBlock || '0'"))
            page.wait_for_function(
                f"() => Number(document.body.dataset.wsUpdates) >= 2"
                f" && Number(document.body.dataset.lastBlock) > {first}",
                timeout=15000,
            )
            newest = int(page.evaluate("() => document.body.dataset.lastBlock"))
            assert page.locator(f"#blocks-body tr[data-block='{newest}']").count() == 1
            assert page.locator("#today-total").inner_text() not in ("", "–")

            # the K-line page renders offline too
            page.goto(f"{base_url}/kline")
            page.wait_for_function(
                "() => document.getElementById('ma-chart').dataset.drawnPoints !== undefined"
            )
            assert (
                int(page.evaluate("() => document.getElementById('ma-chart').dataset.drawnPoints"))
                > 0
            )
            assert page.evaluate(COUNT_INK, "ma-chart") > 100
            assert problems == []
        finally:
            browser.close()
