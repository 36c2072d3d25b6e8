/* Point-Tron browser helpers: the token, API calls, the live WebSocket, the page's words
 * (PT.t) and colour convention (PT.colors), and the settings in the header. */
(function () {
  "use strict";
  var KEY = "token";

  /* The server renders each page in one language and hands its scripts the words they
     write as a JSON data block; "{name}" fields are filled from params. */
  var messages = {};
  var block = document.getElementById("pt-messages");
  if (block) { try { messages = JSON.parse(block.textContent); } catch (e) { messages = {}; } }
  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    return text.replace(/\{(\w+)\}/g, function (m, name) {
      return params && params[name] !== undefined ? String(params[name]) : m;
    });
  }

  /* The colours of "up" and "down" (red-up or green-up, the body's class; see app.css). */
  function colors() {
    var style = window.getComputedStyle(document.body);
    return { up: style.getPropertyValue("--up").trim(), down: style.getPropertyValue("--down").trim(),
      convention: document.body.dataset.colors || "green-up" };
  }

  /* The colour setting: remembered by the server in a cookie (GET /prefs), then back here. */
  var colorSelect = document.getElementById("pref-colors");
  if (colorSelect) {
    colorSelect.addEventListener("change", function () {
      var here = window.location.pathname + window.location.search;
      window.location.assign("/prefs?colors=" + encodeURIComponent(colorSelect.value) +
        "&next=" + encodeURIComponent(here));
    });
  }

  function token() { return window.localStorage.getItem(KEY); }
  function setToken(t) { window.localStorage.setItem(KEY, t); }
  function logout() { window.localStorage.removeItem(KEY); window.location.assign("/login"); }

  /* GET/POST JSON with the bearer token; resolves to `data`, rejects with the error text.
     A 401 means the token is missing or expired: back to the login page. */
  function call(method, url, body) {
    var headers = { "Accept": "application/json" };
    var t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    var init = { method: method, headers: headers };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (res) {
      return res.json().catch(function () { return { success: false, error: "HTTP " + res.status }; })
        .then(function (json) {
          if (res.status === 401 && url.indexOf("/api/auth/login") !== 0) { logout(); }
          if (!json.success) throw new Error(json.error || ("HTTP " + res.status));
          return json.data;
        });
    });
  }

  /* A WebSocket to /ws that subscribes to `channels`, calls onUpdate(msg) for every
     {"type":"update"} message and reconnects after 3 s; onState("live"|"offline"). */
  function live(channels, onUpdate, onState) {
    var socket = null, closedByUs = false;
    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      /* The token goes as a subprotocol, not in the URL: URLs end up in logs. */
      socket = new WebSocket(scheme + "//" + window.location.host + "/ws", ["bearer", token() || "-"]);
      socket.onopen = function () {
        channels.forEach(function (ch) { socket.send(JSON.stringify({ type: "subscribe", channel: ch })); });
        onState("live");
      };
      socket.onmessage = function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === "update") onUpdate(msg);
      };
      socket.onclose = function (ev) {
        onState("offline");
        if (ev.code === 4401) { logout(); return; }
        if (!closedByUs) window.setTimeout(connect, 3000);
      };
    }
    connect();
    return { close: function () { closedByUs = true; if (socket) socket.close(); } };
  }

  function requireLogin() {
    if (!token()) { window.location.replace("/login"); return false; }
    return true;
  }

  function time(ms) {
    var d = new Date(ms);
    function p(n) { return (n < 10 ? "0" : "") + n; }
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  window.PT = { token: token, setToken: setToken, logout: logout, get: function (u) { return call("GET", u); },
    post: function (u, b) { return call("POST", u, b); }, live: live, requireLogin: requireLogin,
    time: time, text: text, t: t, colors: colors };
})();
