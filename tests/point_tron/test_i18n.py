"""Point-Tron in zh-CN and en: the catalogue is complete, requests get their language.

The catalogue checks are plain unit tests; the API and page checks run the real app over a
real database (``service``) through httpx.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from starlette.requests import Request

from point_tron.catalogue import LANGUAGES, MESSAGES
from point_tron.chain_issue import IssueState
from point_tron.i18n import colors_for, fields, language_for, pick_accept_language, translate
from point_tron.routes.pages import PAGES, TEMPLATES_DIR, page_values, render
from tests.point_tron.conftest import Service

APP_DIR = Path(__file__).resolve().parents[2] / "apps" / "point_tron"


# --- the catalogue ---------------------------------------------------------------------------
def test_every_key_is_in_both_languages_with_the_same_fields() -> None:
    assert LANGUAGES == ("zh-CN", "en")
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(text.strip() for text in texts.values()), key
        assert fields(texts["zh-CN"]) == fields(texts["en"]), key


def test_the_chinese_texts_are_chinese() -> None:
    # a key copied without translating would pass the completeness check
    same = [k for k, t in MESSAGES.items() if t["zh-CN"] == t["en"] and k != "page.rsi"]
    assert same == []


def _codes_used_in_source() -> set[str]:
    source = "\n".join(p.read_text() for p in APP_DIR.rglob("*.py"))
    codes = set(re.findall(r'BadRequest\(\s*"(\w+)"', source))
    codes |= set(re.findall(r'fail\(\s*\w+,\s*"(\w+)"', source))
    codes |= set(re.findall(r'error_body\(\s*\w+,\s*"(\w+)"', source))
    codes |= set(re.findall(r'_error\(\s*\w+,\s*"(\w+)"', source))  # the WebSocket's
    return codes


def test_every_error_code_in_the_source_is_in_the_catalogue() -> None:
    codes = _codes_used_in_source()
    assert {"bad_limit", "not_found", "missing_token", "wrong_credentials", "ws_not_json"} <= codes
    assert {f"error.{c}" for c in codes} <= set(MESSAGES)


def test_every_word_the_scripts_ask_for_is_in_the_catalogue() -> None:
    source = "\n".join(p.read_text() for p in (APP_DIR / "static").glob("*.js"))
    asked = set(re.findall(r'PT\.t\(\s*"(\w+)"\s*[,)]', source))
    # words chosen at run time: PT.t(s) with s "live"/"offline", odd/even, the odd-rate notes
    asked |= {"live", "offline", "odd", "even", "balanced", "near_balance", "slight_bias"}
    asked |= {"biased"}
    # the settings page's: PT.t(cond ? "a" : "b")
    asked |= {
        w
        for pair in re.findall(r'PT\.t\([\w.]+ (?:=== "\w+" )?\? "(\w+)" : "(\w+)"\)', source)
        for w in pair
    }
    assert {"no_data", "rsi_needs", "up", "down", "pause_polling", "source_database"} <= asked
    assert {f"js.{w}" for w in asked} <= set(MESSAGES)


def test_every_chain_state_has_words_in_both_languages() -> None:
    """The dashboard names a chain issue in the page's language, never by its code or by
    the English ``reason`` written for the log."""
    states = get_args(IssueState)
    assert set(states) == {"behind", "fork", "fork_too_deep"}
    source = (APP_DIR / "static" / "admin.js").read_text()
    assert 'PT.t("chain_" + chain.state)' in source and "chain.reason" not in source
    for state in states:
        for key in (f"js.chain_{state}", f"js.chain_note_{state}"):
            texts = MESSAGES[key]
            assert set(texts) == set(LANGUAGES), key
            assert not re.search(r"[a-z]{3}", re.sub(r"\{\w+\}", "", texts["zh-CN"])), key
        assert fields(MESSAGES[f"js.chain_note_{state}"]["en"]) == {"gap", "node", "stored"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", [*PAGES, "404"])
def test_every_page_renders_in_both_languages(page: str, language: str) -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("point-tron.test", 80),
            "path": f"/{page}",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"cookie", f"lang={language}".encode())],
        }
    )
    lang, values = page_values(request, page)
    values["path"] = "/nope"
    values["stats_tz"] = "Asia/Shanghai"
    values["points_shown"] = "600"
    html = render(f"{page}.html", lang, values)
    assert lang == language
    assert "{{" not in html and "}}" not in html
    assert f'<html lang="{language}">' in html
    title = re.search(r"<title>(.*)</title>", html)
    assert title is not None
    assert title.group(1) in {t[language] for t in MESSAGES.values()}
    assert (TEMPLATES_DIR / f"{page}.html").exists()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-TW", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en;q=0.5, zh;q=0.9", "zh-CN"),
        ("fr-FR, de;q=0.8, zh;q=0.1", "zh-CN"),
        ("fr-FR", None),
        ("zh;q=0, en;q=0.1", "en"),
        ("", None),
        (None, None),
        ("en;q=abc, zh", "zh-CN"),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert pick_accept_language(header) == expected


def test_language_and_colours_of_a_request() -> None:
    zh = [(b"accept-language", b"zh-CN,zh;q=0.9")]
    assert language_for([]) == "en"
    assert language_for(zh) == "zh-CN"
    assert language_for([*zh, (b"cookie", b"lang=en")]) == "en"
    assert language_for([*zh, (b"cookie", b"lang=klingon")]) == "zh-CN"
    assert colors_for(zh, "zh-CN") == "red-up"
    assert colors_for([], "en") == "green-up"
    assert colors_for([(b"cookie", b"lang=en; colors=red-up")], "en") == "red-up"
    assert colors_for([(b"cookie", b"colors=blue-up")], "zh-CN") == "red-up"
    # another app's cookie that http.cookies would choke on does not hide ours
    odd = [(b"cookie", b'other={"a": [1, 2]}; x=\\bad"; lang=zh-CN; colors=green-up')]
    assert language_for(odd) == "zh-CN" and colors_for(odd, "zh-CN") == "green-up"
    assert translate("zh-CN", "error.bad_limit", name="limit", max=5000, value="'0'") == (
        "limit 必须是 1 到 5000 之间的整数，收到 '0'"
    )


# --- the API and the pages over HTTP ----------------------------------------------------------
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "code", "zh", "en"),
    [
        (
            "/api/blocks/points?limit=0",
            "bad_limit",
            "limit 必须是 1 到 5000 之间的整数，收到 '0'",
            "limit must be an integer from 1 to 5000, got '0'",
        ),
        (
            "/api/blocks/kline?period=2m",
            "bad_choice",
            "period 必须是 1m, 5m, 15m, 1h, 4h, 1d, auto 之一，收到 '2m'",
            "period must be one of 1m, 5m, 15m, 1h, 4h, 1d, auto; got '2m'",
        ),
        ("/api/nope", "not_found", "未找到：GET /api/nope", "not found: GET /api/nope"),
    ],
)
async def test_api_errors_in_the_request_language(
    service: Service, url: str, code: str, zh: str, en: str
) -> None:
    for headers, message in ((ZH, zh), (EN, en), ({}, en)):
        response = await service.client.get(url, headers={**service.auth, **headers})
        assert response.status_code in (400, 404)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"success": False, "error": message, "code": code}


@pytest.mark.anyio
async def test_the_lang_cookie_wins_over_accept_language(service: Service) -> None:
    response = await service.client.get(
        "/api/blocks/history?date=yesterday",
        headers={**service.auth, **ZH, "Cookie": "lang=en"},
    )
    assert response.json()["error"] == "date must be YYYY-MM-DD, got 'yesterday'"
    response = await service.client.get(
        "/api/blocks/history?date=yesterday",
        headers={**service.auth, **EN, "Cookie": "lang=zh-CN"},
    )
    assert response.json() == {
        "success": False,
        "error": "date 必须是 YYYY-MM-DD 格式，收到 'yesterday'",
        "code": "bad_date",
    }


@pytest.mark.anyio
async def test_auth_and_login_errors_in_chinese(service: Service) -> None:
    response = await service.client.get("/api/blocks/stats", headers=ZH)
    assert response.status_code == 401
    assert response.json()["code"] == "missing_token"
    assert response.json()["error"].startswith("缺少访问令牌")
    response = await service.client.get(
        "/api/blocks/stats", headers={**ZH, "Authorization": "Bearer nope"}
    )
    assert response.json() == {
        "success": False,
        "error": "访问令牌无效或已过期",
        "code": "invalid_token",
    }
    response = await service.client.post(
        "/api/auth/login", json={"username": "admin", "password": "wrong"}, headers=ZH
    )
    assert response.status_code == 401
    assert response.json()["error"] == "用户名或密码错误"
    response = await service.client.post(
        "/api/config/rpc", json={"timeout": 5}, headers={**service.auth, **ZH}
    )
    assert response.json() == {
        "success": False,
        "error": "timeout 必须是 100 到 120000 之间的整数，收到 5",
        "code": "bad_int_range",
    }


@pytest.mark.anyio
async def test_unhealthy_health_in_chinese(service: Service) -> None:
    await service.poller.stop()
    response = await service.client.get("/health", headers=ZH)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "unhealthy" and body["error"] == "不健康：轮询循环未在运行"
    response = await service.client.get("/health")
    assert response.json()["error"] == "unhealthy: the poll loop is not running"


@pytest.mark.anyio
async def test_unknown_page_is_an_html_404_with_a_way_back(service: Service) -> None:
    for headers, heading in ((ZH, "页面不存在"), (EN, "Page not found")):
        response = await service.client.get("/no/such/page", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert heading in response.text and 'href="/admin"' in response.text
        assert "/no/such/page" in response.text
        assert response.headers["content-security-policy"]
    # the path is shown escaped, never as markup
    response = await service.client.get("/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert response.status_code == 404 and "<script>alert" not in response.text
    # API paths keep their JSON errors
    response = await service.client.get("/api/no/such", headers={**service.auth, **ZH})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.anyio
async def test_pages_follow_accept_language_and_colour_convention(service: Service) -> None:
    response = await service.client.get("/admin", headers=ZH)
    assert '<html lang="zh-CN">' in response.text and "今日区块" in response.text
    assert 'class="colors-red-up"' in response.text
    assert response.headers["vary"] == "Accept-Language, Cookie"
    # "today" is named by the time zone it starts in, not by a setting's name
    assert "自零点起（UTC）" in response.text and "STATS_TZ" not in response.text
    # the score chart says what it shows: the newest 600 blocks (not "24 hours")
    assert "积分走势（最近 600 个区块）" in response.text and "24 小时" not in response.text
    assert 'id="points-chart" data-max-points="600"' in response.text
    response = await service.client.get("/admin", headers=EN)
    assert '<html lang="en">' in response.text and "Blocks today" in response.text
    assert 'class="colors-green-up"' in response.text


@pytest.mark.anyio
async def test_prefs_remembers_the_choice_in_cookies(service: Service) -> None:
    response = await service.client.get(
        "/prefs", params={"lang": "zh-CN", "colors": "green-up", "next": "/kline?x=1"}, headers=EN
    )
    assert response.status_code == 303 and response.headers["location"] == "/kline?x=1"
    set_cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("lang=zh-CN;") and "Max-Age=31536000" in c for c in set_cookies)
    assert any(c.startswith("colors=green-up;") for c in set_cookies)
    response = await service.client.get(
        "/kline", headers={**EN, "Cookie": "lang=zh-CN; colors=green-up"}
    )
    assert '<html lang="zh-CN">' in response.text and 'class="colors-green-up"' in response.text
    # never a redirect off the site
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = await service.client.get("/prefs", params={"lang": "en", "next": target})
        assert response.headers["location"] == "/admin"
    service.client.cookies.clear()  # the client keeps what /prefs set, like a browser
    response = await service.client.get("/prefs", params={"colors": "blue-up"}, headers=ZH)
    assert response.status_code == 400
    assert response.text == "colors 必须是 red-up, green-up 之一，收到 'blue-up'"


@pytest.mark.anyio
async def test_a_malformed_body_is_described_in_chinese(service: Service) -> None:
    """Where the JSON breaks, in the reader's words: not Python's English sentence."""
    headers = {**service.auth, **ZH, "content-type": "application/json"}
    response = await service.client.post("/api/config/rpc", headers=headers, content=b"{not")
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "JSON 请求体格式错误（第 1 行第 2 列）",
        "code": "malformed_json",
    }
    response = await service.client.post(
        "/api/auth/login", headers=headers, content=b'{\n  "username": "a",\n  x}'
    )
    assert response.json()["error"] == "JSON 请求体格式错误（第 3 行第 3 列）"
    response = await service.client.post("/api/config/rpc", headers=headers, content=b"\xff{}")
    assert response.status_code == 400
    assert response.json()["error"] == "请求体不是 UTF-8 编码的 JSON"
    assert response.json()["code"] == "body_not_utf8"


@pytest.mark.anyio
async def test_api_messages_that_are_not_errors_in_chinese(service: Service) -> None:
    headers = {**service.auth, **ZH}
    response = await service.client.post(
        "/api/config/rpc/polling", headers=headers, json={"action": "stop"}
    )
    assert response.json()["data"]["message"] == "轮询已停止"
    response = await service.client.post(
        "/api/config/rpc/polling", headers=headers, json={"action": "start"}
    )
    assert response.json()["data"]["message"] == "轮询已启动"
    response = await service.client.post(
        "/api/config/rpc", headers=headers, json={"pollingInterval": 20}
    )
    assert response.json()["data"]["message"] == "RPC 设置已保存并生效"
    data = (await service.client.get("/api/blocks/kline/1minute?limit=3", headers=headers)).json()
    assert data["data"]["description"] == (
        "每根 K 线由 20 个连续区块生成（每块 3 秒时约 1 分钟），共 3 根"
    )
