"""The dashboard as a product, in Debian's chromium (Playwright, as test_browser.py).

One real ``tron-sim`` (a block every 0.2 s, 20 minutes of history) and one real
``point-tron`` serve every test of this module; each test opens its own browser context
(language, viewport, cookies). What they prove: every page at 390 px wide in zh-CN and en
without horizontal overflow or a word broken in the header, the HTML 404 with a way back, the
language switch remembered, one colour convention on charts, cards and legend (set in the
header, red-up by default in Chinese and green-up in English), /kline opening on a period with
data and live, and a latest-blocks table with no blank cell while blocks arrive every 0.2 s.

Screenshots of every page in both languages go to ``$PTM_SCREENSHOTS`` (default
``tests/.artifacts/screenshots``, ignored by git) for a person to look at.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.point_tron.conftest import (
    E2E_JWT_SECRET,
    bin_path,
    listening_port,
    point_tron_env,
    running,
    tron_sim,
)
from tests.point_tron.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIM_START = 60_000_000  # tron-sim's default start height
HISTORY = 6000  # blocks before the simulator starts: 20 minutes at 0.2 s, 20 one-minute candles
PHONE = {"width": 390, "height": 844}
LOCALES = {"zh-CN": "zh-CN", "en": "en-US"}
RED, GREEN = "rgb(229, 83, 75)", "rgb(63, 185, 80)"  # app.css --red and --green
SCREENSHOTS = Path(
    os.environ.get("PTM_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / ".artifacts" / "screenshots"
)

# Every text of the header that the browser laid out on more than one line (a broken word
# or a wrapped label), every card's value broken over two lines (a number cut in half),
# every element wider than the viewport and every box that scrolls sideways (the
# latest-blocks table must fit, not scroll).
LAYOUT_PROBLEMS = """() => {
  const out = [];
  const header = document.querySelector('header.top, .login-prefs');
  if (header) {
    const walk = document.createTreeWalker(header, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim() || n.parentElement.closest('select')) continue;
      const r = document.createRange();
      r.selectNodeContents(n);
      const tops = new Set([...r.getClientRects()].map((q) => Math.round(q.top)));
      if (tops.size > 1) out.push('wrapped: ' + n.textContent.trim());
    }
  }
  for (const value of document.querySelectorAll('.card .value')) {
    const r = document.createRange();
    r.selectNodeContents(value);
    const tops = new Set([...r.getClientRects()].map((q) => Math.round(q.top)));
    if (tops.size > 1) out.push('value on two lines: ' + value.textContent.trim());
  }
  const width = document.documentElement.clientWidth;
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    const name = el.tagName + '#' + el.id + '.' + el.className;
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    if (scrolls && el.scrollWidth > el.clientWidth + 1) out.push('scrolls sideways: ' + name);
    const hidden = el.closest('.table-wrap') && el.closest('.table-wrap').scrollLeft === 0;
    if (box.width && box.right > width + 0.5 && !hidden) {
      out.push('overflows: ' + name + ' right=' + box.right);
    }
  }
  return out;
}"""

# Installed before any page script: records every moment a latest-blocks cell is blank.
WATCH_BLANK_CELLS = """
window.__blankCells = [];
window.__rowsSeen = 0;
new MutationObserver(() => {
  const body = document.getElementById('blocks-body');
  if (!body) return;
  window.__rowsSeen = Math.max(window.__rowsSeen, body.rows.length);
  for (const tr of body.rows) {
    for (const td of tr.cells) {
      if (!td.textContent.trim()) window.__blankCells.push(tr.dataset.block + ':' + td.cellIndex);
    }
  }
}).observe(document, { childList: true, subtree: true, characterData: true });
"""


class Site:
    def __init__(self, base: str, token: str, browser: Any) -> None:
        self.base = base
        self.token = token
        self.browser = browser

    def context(self, language: str, *, logged_in: bool = True, **options: Any) -> Any:
        """A browser context speaking ``language``, at phone width unless told otherwise."""
        options.setdefault("viewport", PHONE)
        context = self.browser.new_context(locale=LOCALES[language], **options)
        if logged_in:
            context.add_init_script(f"window.localStorage.setItem('token', {self.token!r});")
        return context

    def page(self, context: Any) -> tuple[Any, list[str]]:
        """A new page whose script errors and off-site requests are collected."""
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "request",
            lambda req: (
                None
                if req.url.startswith((self.base, self.base.replace("http", "ws")))
                else problems.append(f"off-site request: {req.url}")
            ),
        )
        return page, problems


def _wait_for_history(base: str, token: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        data = httpx.get(f"{base}/health", timeout=5).json()["data"]
        if (data["database"]["totalBlocks"] or 0) > HISTORY:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"history not stored in {deadline_s}s: {data}")
        time.sleep(0.1)  # polling a condition, with a deadline


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run scripts/install-tools.sh")
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    if not fonts.stdout.strip():  # the zh-CN screenshots would show empty boxes
        pytest.fail("no Chinese font (fc-list :lang=zh): run scripts/install-tools.sh")
    tmp = tmp_path_factory.mktemp("dashboard")
    env_extra = {"TRON_POLLING_INTERVAL": "100", "START_BLOCK": str(SIM_START + 1)}
    with (
        tron_sim(block_interval=0.2, initial_blocks=HISTORY) as rpc_url,
        running([bin_path("point-tron")], point_tron_env(tmp, rpc_url, **env_extra)) as app,
        sync_playwright() as pw,
    ):
        base = f"http://127.0.0.1:{listening_port(app)}"
        login = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": "admin123"}
        )
        token = login.json()["data"]["token"]
        _wait_for_history(base, token)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield Site(base, token, browser)
        finally:
            browser.close()
        assert app.terminate() == 0
    assert E2E_JWT_SECRET  # the service signs with the test secret of point_tron_env


def _ready(page: Any, name: str) -> None:
    """Wait until the page ``name`` has drawn what it shows."""
    if name == "login":
        page.wait_for_selector("#login-submit")
    elif name == "404":
        page.wait_for_selector("#back")
    elif name == "admin":
        page.wait_for_function(
            "() => document.body.dataset.ws === 'live'"
            " && document.querySelectorAll('#blocks-body tr').length > 0"
            " && Number(document.getElementById('points-chart').dataset.drawnPoints) > 0"
            " && Number(document.getElementById('kline-chart').dataset.drawnPoints) > 0",
            timeout=15000,
        )
    elif name == "settings":
        page.wait_for_function("() => document.body.dataset.loaded === 'true'", timeout=15000)
    elif name == "kline":
        page.wait_for_function(
            "() => document.body.dataset.ws === 'live'"
            " && Number(document.getElementById('rsi-chart').dataset.drawnPoints) > 0",
            timeout=15000,
        )


PAGES = {
    "login": "/login",
    "admin": "/admin",
    "kline": "/kline",
    "settings": "/settings",
    "404": "/no/such/page",
}
DESKTOP = {"width": 1280, "height": 900}
HEADINGS = {
    ("login", "zh-CN"): "Point-Tron 管理后台",
    ("login", "en"): "Point-Tron admin",
    ("admin", "zh-CN"): "今日区块",
    ("admin", "en"): "Blocks today",
    ("kline", "zh-CN"): "积分 K 线",
    ("kline", "en"): "K-line of the score",
    ("settings", "zh-CN"): "系统设置",
    ("settings", "en"): "Settings",
    ("404", "zh-CN"): "页面不存在",
    ("404", "en"): "Page not found",
}


def _every_page(site: Site, language: str, viewport: dict[str, int], suffix: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = site.context(language, logged_in=True, viewport=viewport)
    try:
        page, problems = site.page(context)
        for name, path in PAGES.items():
            response = page.goto(site.base + path)
            assert response is not None
            assert response.status == (404 if name == "404" else 200), name
            _ready(page, name)
            assert page.evaluate("() => document.documentElement.lang") == language
            assert HEADINGS[name, language] in (page.text_content("body") or ""), name
            assert page.evaluate(LAYOUT_PROBLEMS) == [], name
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll <= viewport["width"], f"{name}: {scroll} px wide"
            page.screenshot(
                path=str(SCREENSHOTS / f"{name}-{language}{suffix}.png"), full_page=True
            )
        # the 404 page leads back
        page.goto(site.base + "/no/such/page")
        page.click("#back")
        page.wait_for_url(site.base + "/admin")
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_page_at_390_px(site: Site, language: str) -> None:
    _every_page(site, language, PHONE, "")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_page_at_desktop_width(site: Site, language: str) -> None:
    _every_page(site, language, DESKTOP, "-desktop")


def test_language_switch_is_remembered(site: Site) -> None:
    context = site.context("en", logged_in=False)
    try:
        page, problems = site.page(context)
        page.goto(site.base + "/login")
        assert page.inner_text("h1") == "Point-Tron admin"
        page.click("#lang-zh")
        page.wait_for_url(site.base + "/login")
        assert page.inner_text("h1") == "Point-Tron 管理后台"
        # the API answers in the chosen language too
        page.fill("#username", "admin")
        page.fill("#password", "wrong")
        page.click("#login-submit")
        page.wait_for_selector("#login-error:has-text('用户名或密码错误')")
        page.fill("#password", "admin123")
        page.click("#login-submit")
        page.wait_for_url(site.base + "/admin")
        _ready(page, "admin")
        assert page.inner_text("#ws-status") == "实时"
        assert page.inner_text("#blocks-body tr:first-child td:nth-child(4)") in ("单", "双")
        page.click("#lang-en")
        page.wait_for_url(site.base + "/admin")
        _ready(page, "admin")
        assert page.inner_text("#ws-status") == "live"
        page.goto(site.base + "/kline")
        assert page.evaluate("() => document.documentElement.lang") == "en"
        assert [p for p in problems if "401" not in p] == []
    finally:
        context.close()


def _up_colours(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => ({
          legend: getComputedStyle(document.querySelector('#color-legend .swatch.up'),
                                   '::before').color,
          legendDown: getComputedStyle(document.querySelector('#color-legend .swatch.down'),
                                       '::before').color,
          chartUp: document.getElementById('kline-chart').dataset.upColor,
          chartDown: document.getElementById('kline-chart').dataset.downColor,
          gain: getComputedStyle(document.getElementById('s-gain')).color,
          loss: getComputedStyle(document.getElementById('s-loss')).color,
          klineLegendUp: document.querySelector('#kline-legend span span').style.color,
        })"""
    )


def _hex(rgb: str) -> str:
    r, g, b = (int(x) for x in rgb.removeprefix("rgb(").removesuffix(")").split(","))
    return f"#{r:02x}{g:02x}{b:02x}"


@pytest.mark.parametrize(("language", "up", "down"), [("zh-CN", RED, GREEN), ("en", GREEN, RED)])
def test_one_colour_convention_by_language(site: Site, language: str, up: str, down: str) -> None:
    context = site.context(language)
    try:
        page, problems = site.page(context)
        page.goto(site.base + "/kline")
        _ready(page, "kline")
        colours = _up_colours(page)
        assert colours == {
            "legend": up,
            "legendDown": down,
            "chartUp": _hex(up),
            "chartDown": _hex(down),
            "gain": up,
            "loss": down,
            "klineLegendUp": up,
        }
        assert problems == []
    finally:
        context.close()


def test_colour_setting_is_remembered(site: Site) -> None:
    context = site.context("zh-CN")
    try:
        page, problems = site.page(context)
        page.goto(site.base + "/kline")
        _ready(page, "kline")
        assert _up_colours(page)["chartUp"] == _hex(RED)
        page.select_option("#pref-colors", "green-up")
        page.wait_for_function("() => document.body.dataset.colors === 'green-up'")
        _ready(page, "kline")
        assert _up_colours(page)["chartUp"] == _hex(GREEN)
        assert _up_colours(page)["gain"] == GREEN
        page.goto(site.base + "/admin")
        _ready(page, "admin")
        legend_up = page.evaluate(
            "() => getComputedStyle(document.querySelector('#color-legend .swatch.up'),"
            " '::before').color"
        )
        assert legend_up == GREEN
        points_plus = page.evaluate(
            "() => document.querySelector('#points-legend span span').style.color"
        )
        assert points_plus == GREEN
        assert page.locator("#pref-colors").input_value() == "green-up"
        assert problems == []
    finally:
        context.close()


def test_kline_opens_on_a_period_with_data_and_live(site: Site) -> None:
    context = site.context("en", viewport={"width": 1280, "height": 900})
    try:
        page, problems = site.page(context)
        page.goto(site.base + "/kline")
        _ready(page, "kline")
        assert page.evaluate("() => document.body.dataset.period") == "1m"
        assert page.locator("#period").input_value() == "1m"
        drawn = page.evaluate("document.getElementById('kline-chart').dataset.drawnPoints")
        assert int(drawn) >= 20
        assert page.locator("#realtime").is_checked()
        assert page.inner_text("#ws-status") == "live"
        assert page.locator("#s-win").inner_text().endswith("%")
        assert problems == []
    finally:
        context.close()


def test_latest_blocks_never_blank_while_blocks_arrive(site: Site) -> None:
    context = site.context("en", viewport={"width": 1280, "height": 900})
    try:
        context.add_init_script(WATCH_BLANK_CELLS)
        page, problems = site.page(context)
        page.goto(site.base + "/admin")
        _ready(page, "admin")
        first = int(page.evaluate("() => document.body.dataset.lastBlock"))
        page.wait_for_function(
            f"() => Number(document.body.dataset.lastBlock) >= {first + 20}", timeout=15000
        )
        assert page.evaluate("() => window.__blankCells") == []
        assert page.evaluate("() => window.__rowsSeen") == 25
        # the score chart shows the newest 600 blocks, as its heading says
        assert "Score, last 600 blocks" in page.inner_text("main")
        drawn = page.evaluate("() => document.getElementById('points-chart').dataset.drawnPoints")
        assert int(drawn) == 600
        rows = page.evaluate(
            """() => [...document.querySelectorAll('#blocks-body tr')].map((tr) =>
                 [...tr.cells].map((td) => td.textContent))"""
        )
        assert len(rows) == 25
        for cells in rows:
            assert cells[4] in ("+1", "−1") and cells[5].lstrip("-").isdigit(), cells
        assert problems == []
    finally:
        context.close()


def test_settings_page_sets_the_node_polling_and_display(site: Site) -> None:
    """The settings page is one click from the dashboard; what it saves goes through the
    API, which answers in the page's language; a bad value is named, not saved."""
    auth = {"Authorization": f"Bearer {site.token}"}
    before = httpx.get(f"{site.base}/api/config/rpc", headers=auth).json()["data"]
    context = site.context("zh-CN", viewport={"width": 1280, "height": 900})
    try:
        page, problems = site.page(context)
        page.goto(site.base + "/admin")
        page.click("#nav-settings")
        page.wait_for_url(site.base + "/settings")
        _ready(page, "settings")
        assert page.locator("#rpc-url").input_value() == before["rpcUrl"]
        assert page.locator("#rpc-timeout").input_value() == str(before["timeout"])
        assert page.locator("#rpc-interval").input_value() == str(before["pollingInterval"])
        assert page.inner_text("#rpc-api-key-state") == "(未设置)"

        # a bad URL: the server's message, in Chinese; nothing is stored
        page.fill("#rpc-url", "ftp://node.example")
        page.click("#rpc-save")
        page.wait_for_selector("#rpc-message.error:has-text('rpcUrl 必须是 http:// 或 https://')")
        after_bad = httpx.get(f"{site.base}/api/config/rpc", headers=auth).json()["data"]
        assert after_bad["rpcUrl"] == before["rpcUrl"]

        # a good change is stored and applied, and the page shows where it comes from
        page.fill("#rpc-url", before["rpcUrl"])
        page.fill("#rpc-timeout", str(before["timeout"] + 321))
        page.click("#rpc-save")
        page.wait_for_selector("#rpc-message.ok:has-text('RPC 设置已保存并生效')")
        saved = httpx.get(f"{site.base}/api/config/rpc", headers=auth).json()["data"]
        assert saved["timeout"] == before["timeout"] + 321
        assert saved["source"] == "database"
        page.reload()
        _ready(page, "settings")
        assert page.locator("#rpc-timeout").input_value() == str(before["timeout"] + 321)
        assert "数据库" in page.inner_text("#rpc-source")

        # pause and resume polling
        assert page.evaluate("() => document.body.dataset.polling") == "active"
        assert page.inner_text("#polling-toggle") == "暂停轮询"
        page.click("#polling-toggle")
        page.wait_for_selector("#polling-message.ok:has-text('轮询已停止')")
        assert page.evaluate("() => document.body.dataset.polling") == "paused"
        status = httpx.get(f"{site.base}/api/system/status", headers=auth).json()["data"]
        assert status["rpcPolling"]["isActive"] is False
        assert page.inner_text("#polling-toggle") == "恢复轮询"
        page.click("#polling-toggle")
        page.wait_for_selector("#polling-message.ok:has-text('轮询已启动')")
        status = httpx.get(f"{site.base}/api/system/status", headers=auth).json()["data"]
        assert status["rpcPolling"]["isActive"] is True

        # the display settings: language and the colour convention, remembered
        assert page.get_attribute("#set-colors-red-up", "aria-current") == "true"
        page.click("#set-colors-green-up")
        page.wait_for_function("() => document.body.dataset.colors === 'green-up'")
        assert page.url == site.base + "/settings"
        assert page.get_attribute("#set-colors-green-up", "aria-current") == "true"
        page.click("#set-lang-en")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        _ready(page, "settings")
        assert page.inner_text("#polling-toggle") == "Pause polling"
        assert problems == []
    finally:
        context.close()
        restore = {k: before[k] for k in ("rpcUrl", "timeout", "retryTimes", "pollingInterval")}
        httpx.post(f"{site.base}/api/config/rpc", headers=auth, json=restore)
        httpx.post(f"{site.base}/api/config/rpc/polling", headers=auth, json={"action": "start"})
