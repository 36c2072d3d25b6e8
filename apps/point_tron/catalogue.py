"""Point-Tron's message catalogue: every word the pages and the API errors show, in zh-CN and en.

A key names one message; its value gives the text in each language of :data:`LANGUAGES`.
Texts may hold ``{name}`` fields, filled by :func:`point_tron.i18n.translate`; both languages
of a key must use the same fields (``tests/point_tron/test_i18n.py`` checks it).

Key families:

- ``error.<code>``: an API error; ``<code>`` is the stable ``code`` field of the envelope;
- ``problem.<x>``: a part of an unhealthy ``/health`` error;
- ``ws.<x>``: the WebSocket's other messages (its errors are ``error.ws_*``);
- ``api.<x>``: the API's messages that are not errors (``message``, ``description``);
- ``page.<x>``: the server-rendered pages;
- ``js.<x>``: words the pages' scripts write (handed to them in the page, see
  :func:`point_tron.i18n.script_messages`).
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "MESSAGES"]

LANGUAGES = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    # --- API errors: the envelope's "error"; the part after "error." is its "code" ----------
    "error.not_found": {"zh-CN": "未找到：{method} {path}", "en": "not found: {method} {path}"},
    "error.method_not_allowed": {
        "zh-CN": "不允许的请求方法：{method} {path}",
        "en": "method not allowed: {method} {path}",
    },
    "error.internal_error": {"zh-CN": "服务器内部错误", "en": "internal server error"},
    "error.http_error": {"zh-CN": "请求失败：{detail}", "en": "{detail}"},
    "error.missing_token": {
        "zh-CN": "缺少访问令牌（Authorization: Bearer <token>）",
        "en": "missing bearer token (Authorization: Bearer <token>)",
    },
    "error.invalid_token": {
        "zh-CN": "访问令牌无效或已过期",
        "en": "invalid or expired token",
    },
    "error.rate_limited": {
        "zh-CN": "登录尝试过于频繁，请稍后再试",
        "en": "too many login attempts; try again later",
    },
    "error.credentials_required": {
        "zh-CN": "用户名和密码不能为空",
        "en": "username and password are required",
    },
    "error.wrong_credentials": {"zh-CN": "用户名或密码错误", "en": "wrong username or password"},
    "error.bad_limit": {
        "zh-CN": "{name} 必须是 1 到 {max} 之间的整数，收到 {value}",
        "en": "{name} must be an integer from 1 to {max}, got {value}",
    },
    "error.bad_choice": {
        "zh-CN": "{name} 必须是 {choices} 之一，收到 {value}",
        "en": "{name} must be one of {choices}; got {value}",
    },
    "error.bad_flag": {
        "zh-CN": "{name} 必须是 true 或 false，收到 {value}",
        "en": "{name} must be true or false, got {value}",
    },
    "error.bad_date": {
        "zh-CN": "date 必须是 YYYY-MM-DD 格式，收到 {value}",
        "en": "date must be YYYY-MM-DD, got {value}",
    },
    "error.bad_calendar_date": {
        "zh-CN": "date 必须是真实存在的日期，收到 {value}",
        "en": "date must be a real calendar day, got {value}",
    },
    "error.malformed_json": {
        "zh-CN": "JSON 请求体格式错误（第 {line} 行第 {column} 列）",
        "en": "malformed JSON body (line {line}, column {column})",
    },
    "error.body_not_utf8": {
        "zh-CN": "请求体不是 UTF-8 编码的 JSON",
        "en": "the request body is not UTF-8 encoded JSON",
    },
    "error.not_json_object": {
        "zh-CN": "请求体必须是 JSON 对象",
        "en": "the request body must be a JSON object",
    },
    "error.unknown_field": {
        "zh-CN": "未知字段 {field}；可用字段：{fields}",
        "en": "unknown field {field}; fields: {fields}",
    },
    "error.bad_rpc_url": {
        "zh-CN": "rpcUrl 必须是 http:// 或 https:// 地址，收到 {value}",
        "en": "rpcUrl must be an http:// or https:// URL, got {value}",
    },
    "error.bad_api_key": {
        "zh-CN": "apiKey 必须是字符串或 null，收到 {value}",
        "en": "apiKey must be a string or null, got {value}",
    },
    "error.bad_int_range": {
        "zh-CN": "{name} 必须是 {low} 到 {high} 之间的整数，收到 {value}",
        "en": "{name} must be an integer from {low} to {high}, got {value}",
    },
    "error.bad_action": {
        "zh-CN": "action 必须是 'start' 或 'stop'，收到 {value}",
        "en": "action must be 'start' or 'stop', got {value}",
    },
    "error.ws_unauthorized": {
        "zh-CN": "未授权：需要有效的访问令牌（子协议 bearer）",
        "en": "unauthorized: a valid token is required (subprotocol bearer)",
    },
    "error.ws_not_json": {"zh-CN": "消息格式错误：不是 JSON", "en": "malformed message: not JSON"},
    "error.ws_not_object": {
        "zh-CN": "消息格式错误：应为 JSON 对象",
        "en": "malformed message: expected a JSON object",
    },
    "error.ws_unknown_channel": {
        "zh-CN": "未知频道 {channel}；可用频道：{channels}",
        "en": "unknown channel {channel}; channels: {channels}",
    },
    "error.ws_unknown_type": {"zh-CN": "未知消息类型 {type}", "en": "unknown message type {type}"},
    "ws.welcome": {"zh-CN": "欢迎，{username}", "en": "welcome, {username}"},
    "ws.subscribed": {"zh-CN": "已订阅 {channel}", "en": "subscribed to {channel}"},
    "ws.unsubscribed": {"zh-CN": "已取消订阅 {channel}", "en": "unsubscribed from {channel}"},
    "error.unhealthy": {"zh-CN": "不健康：{problems}", "en": "unhealthy: {problems}"},
    "problem.db_disconnected": {
        "zh-CN": "数据库未连接",
        "en": "database is not connected",
    },
    "problem.poll_loop_dead": {
        "zh-CN": "轮询循环未在运行",
        "en": "the poll loop is not running",
    },
    # --- API messages that are not errors ---------------------------------------------------
    "api.rpc_saved": {"zh-CN": "RPC 设置已保存并生效", "en": "RPC settings saved and applied"},
    "api.polling_started": {"zh-CN": "轮询已启动", "en": "polling started"},
    "api.polling_stopped": {"zh-CN": "轮询已停止", "en": "polling stopped"},
    "api.kline_1minute": {
        "zh-CN": "每根 K 线由 {per} 个连续区块生成（每块 3 秒时约 1 分钟），共 {count} 根",
        "en": "each candle covers {per} consecutive block numbers"
        " (about 1 minute at 3 s per block); {count} candles",
    },
    # --- pages ---------------------------------------------------------------------------
    "page.title_admin": {"zh-CN": "Point-Tron · 仪表盘", "en": "Point-Tron · dashboard"},
    "page.title_kline": {"zh-CN": "Point-Tron · K 线", "en": "Point-Tron · K-line"},
    "page.title_login": {"zh-CN": "Point-Tron · 登录", "en": "Point-Tron · sign in"},
    "page.title_404": {"zh-CN": "Point-Tron · 页面不存在", "en": "Point-Tron · page not found"},
    "page.nav": {"zh-CN": "页面", "en": "pages"},
    "page.nav_dashboard": {"zh-CN": "仪表盘", "en": "Dashboard"},
    "page.nav_kline": {"zh-CN": "K 线", "en": "K-line"},
    "page.logout": {"zh-CN": "退出", "en": "Log out"},
    "page.language": {"zh-CN": "语言", "en": "Language"},
    "page.colors": {"zh-CN": "涨跌颜色", "en": "Up/down colours"},
    "page.colors_red_up": {"zh-CN": "红涨绿跌", "en": "red up, green down"},
    "page.colors_green_up": {"zh-CN": "绿涨红跌", "en": "green up, red down"},
    "page.title_settings": {"zh-CN": "Point-Tron · 设置", "en": "Point-Tron · settings"},
    "page.nav_settings": {"zh-CN": "设置", "en": "Settings"},
    "page.settings_heading": {"zh-CN": "系统设置", "en": "Settings"},
    "page.display": {"zh-CN": "显示", "en": "Display"},
    "page.display_note": {
        "zh-CN": "保存在本浏览器（Cookie），对所有页面生效。",
        "en": "Kept in this browser (a cookie), for every page.",
    },
    "page.rpc": {"zh-CN": "TRON 节点（RPC）", "en": "TRON node (RPC)"},
    "page.rpc_note": {
        "zh-CN": "保存后立即生效，无需重启；保存在数据库中，重启后仍然有效。",
        "en": "Applied at once, no restart; stored in the database, so kept across restarts.",
    },
    "page.rpc_url": {"zh-CN": "节点地址", "en": "Node URL"},
    "page.api_key": {"zh-CN": "API 密钥（TRON-PRO-API-KEY）", "en": "API key (TRON-PRO-API-KEY)"},
    "page.api_key_hint": {"zh-CN": "留空则不修改", "en": "leave empty to keep it"},
    "page.api_key_clear": {"zh-CN": "清除已保存的密钥", "en": "remove the stored key"},
    "page.timeout": {"zh-CN": "超时（毫秒）", "en": "Timeout (ms)"},
    "page.retry_times": {
        "zh-CN": "尝试次数（含首次请求）",
        "en": "Attempts (the first one included)",
    },
    "page.polling_interval": {"zh-CN": "轮询间隔（毫秒）", "en": "Polling interval (ms)"},
    "page.save": {"zh-CN": "保存", "en": "Save"},
    "page.polling": {"zh-CN": "区块轮询", "en": "Block polling"},
    "page.polling_note": {
        "zh-CN": "暂停后不再从节点获取区块；暂停状态在重启后保持。",
        "en": "While paused no block is fetched from the node; a pause is kept across restarts.",
    },
    "page.today_total": {"zh-CN": "今日区块", "en": "Blocks today"},
    "page.today_total_sub": {
        "zh-CN": "自零点起（{stats_tz}）",
        "en": "since midnight ({stats_tz})",
    },
    "page.odd_even": {"zh-CN": "单 / 双", "en": "Odd / even"},
    "page.odd_even_sub": {"zh-CN": "哈希末位数字为奇数即为单", "en": "odd = last hash digit odd"},
    "page.odd_rate": {"zh-CN": "单数率", "en": "Odd rate"},
    "page.score": {"zh-CN": "积分", "en": "Score"},
    "page.score_sub": {"zh-CN": "双 +1，单 −1", "en": "even +1, odd −1"},
    "page.latest_block": {"zh-CN": "最新区块", "en": "Latest block"},
    "page.poller": {"zh-CN": "轮询", "en": "Poller"},
    "page.hourly": {"zh-CN": "今日每小时区块", "en": "Blocks per hour today"},
    "page.points": {
        "zh-CN": "积分走势（最近 {points_shown} 个区块）",
        "en": "Score, last {points_shown} blocks",
    },
    "page.kline": {"zh-CN": "积分 K 线", "en": "K-line of the score"},
    "page.period": {"zh-CN": "周期", "en": "period"},
    "page.candles": {"zh-CN": "K 线数", "en": "candles"},
    "page.live": {"zh-CN": "实时", "en": "live"},
    "page.rsi": {"zh-CN": "RSI 14", "en": "RSI 14"},
    "page.ma": {"zh-CN": "收盘价与均线", "en": "Close and moving averages"},
    "page.latest_blocks": {"zh-CN": "最新区块", "en": "Latest blocks"},
    "page.col_block": {"zh-CN": "区块", "en": "Block"},
    "page.col_hash": {"zh-CN": "哈希", "en": "Hash"},
    "page.col_digit": {"zh-CN": "尾数", "en": "Digit"},
    "page.col_odd_even": {"zh-CN": "单双", "en": "Odd/even"},
    "page.col_change": {"zh-CN": "变化", "en": "Change"},
    "page.col_score": {"zh-CN": "积分", "en": "Score"},
    "page.col_txs": {"zh-CN": "交易数", "en": "Txs"},
    "page.col_time": {"zh-CN": "时间", "en": "Time"},
    "page.s_total": {"zh-CN": "总变化", "en": "Total change"},
    "page.s_gain": {"zh-CN": "最大涨幅", "en": "Max gain"},
    "page.s_loss": {"zh-CN": "最大跌幅", "en": "Max loss"},
    "page.s_count": {"zh-CN": "涨 / 跌 K 线", "en": "Up / down candles"},
    "page.s_win": {"zh-CN": "胜率", "en": "Win rate"},
    "page.s_vol": {"zh-CN": "平均量 · 波动率", "en": "Avg volume · volatility"},
    "page.login_heading": {"zh-CN": "Point-Tron 管理后台", "en": "Point-Tron admin"},
    "page.username": {"zh-CN": "用户名", "en": "Username"},
    "page.password": {"zh-CN": "密码", "en": "Password"},
    "page.sign_in": {"zh-CN": "登录", "en": "Sign in"},
    "page.not_found_heading": {"zh-CN": "页面不存在", "en": "Page not found"},
    "page.not_found_text": {
        "zh-CN": "没有地址为 {path} 的页面。",
        "en": "There is no page at {path}.",
    },
    "page.back_dashboard": {"zh-CN": "返回仪表盘", "en": "Back to the dashboard"},
    "page.back_login": {"zh-CN": "登录", "en": "Sign in"},
    # --- words the scripts write -------------------------------------------------------------
    "js.live": {"zh-CN": "实时", "en": "live"},
    "js.offline": {"zh-CN": "离线", "en": "offline"},
    "js.odd": {"zh-CN": "单", "en": "odd"},
    "js.even": {"zh-CN": "双", "en": "even"},
    "js.up": {"zh-CN": "涨", "en": "up"},
    "js.down": {"zh-CN": "跌", "en": "down"},
    "js.plus_even": {"zh-CN": "+1 双（涨）", "en": "+1 even (up)"},
    "js.minus_odd": {"zh-CN": "−1 单（跌）", "en": "−1 odd (down)"},
    "js.score": {"zh-CN": "积分", "en": "score"},
    "js.close": {"zh-CN": "收盘", "en": "close"},
    "js.balanced": {"zh-CN": "均衡", "en": "balanced"},
    "js.near_balance": {"zh-CN": "接近均衡", "en": "near balance"},
    "js.slight_bias": {"zh-CN": "轻微偏离", "en": "slight bias"},
    "js.biased": {"zh-CN": "明显偏离", "en": "biased"},
    "js.poller_dead": {"zh-CN": "已停止", "en": "dead"},
    "js.poller_paused": {"zh-CN": "已暂停", "en": "paused"},
    "js.poller_failing": {"zh-CN": "出错", "en": "failing"},
    "js.poller_degraded": {"zh-CN": "降级：{state}", "en": "degraded: {state}"},
    "js.poller_running": {"zh-CN": "运行中", "en": "running"},
    "js.failed_ticks": {"zh-CN": "连续 {n} 次轮询失败：{error}", "en": "{n} failed ticks: {error}"},
    "js.chain_behind": {"zh-CN": "节点落后", "en": "behind"},
    "js.chain_fork": {"zh-CN": "分叉", "en": "fork"},
    "js.chain_fork_too_deep": {"zh-CN": "分叉过深", "en": "fork_too_deep"},
    "js.chain_note_behind": {
        "zh-CN": "节点比本地落后 {gap} 个区块（节点 #{node}，本地 #{stored}）",
        "en": "the node is {gap} blocks behind ours (node #{node}, ours #{stored})",
    },
    "js.chain_note_fork": {
        "zh-CN": "节点链已分叉，回滚了 {gap} 个区块（节点 #{node}，本地 #{stored}）",
        "en": "the node's chain forked: {gap} blocks rolled back (node #{node}, ours #{stored})",
    },
    "js.chain_note_fork_too_deep": {
        "zh-CN": "本地最近 {gap} 个区块都不在节点的链上，暂停写入；请检查节点地址"
        "（节点 #{node}，本地 #{stored}）",
        "en": "none of our last {gap} blocks is on the node's chain; nothing is stored,"
        " check the node URL (node #{node}, ours #{stored})",
    },
    "js.every_ms": {"zh-CN": "每 {n} 毫秒", "en": "every {n} ms"},
    "js.source_database": {
        "zh-CN": "当前设置来自数据库（在此页面保存）。",
        "en": "The settings in force come from the database (saved here).",
    },
    "js.source_environment": {
        "zh-CN": "当前设置来自环境变量。",
        "en": "The settings in force come from the environment.",
    },
    "js.api_key_set": {"zh-CN": "已设置", "en": "set"},
    "js.api_key_unset": {"zh-CN": "未设置", "en": "not set"},
    "js.pause_polling": {"zh-CN": "暂停轮询", "en": "Pause polling"},
    "js.resume_polling": {"zh-CN": "恢复轮询", "en": "Resume polling"},
    "js.no_data": {"zh-CN": "暂无数据", "en": "no data yet"},
    "js.rsi_needs": {
        "zh-CN": "RSI 14 需要至少 15 根 K 线",
        "en": "RSI 14 needs at least 15 candles",
    },
}
