/* The settings page: the node's RPC settings (GET/POST /api/config/rpc) and pausing or
 * resuming block polling (POST /api/config/rpc/polling). The server checks every value and
 * answers in the page's language; its message (or error) is shown under the form as it is.
 * document.body.dataset.loaded is set once the current settings are in the form. */
(function () {
  "use strict";
  if (!PT.requireLogin()) return;
  var body = document.body;
  var form = document.getElementById("rpc-form");
  var saveButton = document.getElementById("rpc-save");
  var toggle = document.getElementById("polling-toggle");
  var active = null;

  document.getElementById("logout").addEventListener("click", PT.logout);

  function say(id, text, ok) {
    var el = document.getElementById(id);
    el.textContent = text;
    el.className = "form-message " + (ok ? "ok" : "error");
  }

  function showPolling(isActive) {
    active = isActive;
    var badge = document.getElementById("polling-state");
    badge.textContent = PT.t(isActive ? "poller_running" : "poller_paused");
    badge.className = "badge " + (isActive ? "live" : "off");
    toggle.textContent = PT.t(isActive ? "pause_polling" : "resume_polling");
    toggle.disabled = false;
    body.dataset.polling = isActive ? "active" : "paused";
  }

  function fill(c) {
    document.getElementById("rpc-url").value = c.rpcUrl;
    document.getElementById("rpc-timeout").value = String(c.timeout);
    document.getElementById("rpc-retry").value = String(c.retryTimes);
    document.getElementById("rpc-interval").value = String(c.pollingInterval);
    document.getElementById("rpc-api-key").value = "";
    document.getElementById("rpc-api-key-clear").checked = false;
    PT.text("rpc-api-key-state", "(" + PT.t(c.apiKeySet ? "api_key_set" : "api_key_unset") + ")");
    PT.text("rpc-source", PT.t(c.source === "database" ? "source_database" : "source_environment"));
    showPolling(c.isPollingActive);
    body.dataset.loaded = "true";
  }

  /* a whole number goes as a number; anything else as typed, for the server to name */
  function integer(id) {
    var raw = document.getElementById(id).value.trim();
    return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var update = {
      rpcUrl: document.getElementById("rpc-url").value.trim(),
      timeout: integer("rpc-timeout"),
      retryTimes: integer("rpc-retry"),
      pollingInterval: integer("rpc-interval")
    };
    var key = document.getElementById("rpc-api-key").value;
    if (document.getElementById("rpc-api-key-clear").checked) update.apiKey = null;
    else if (key) update.apiKey = key;
    saveButton.disabled = true;
    PT.post("/api/config/rpc", update).then(function (d) {
      fill(d.config);
      say("rpc-message", d.message, true);
    }).catch(function (err) {
      say("rpc-message", err.message, false);
    }).then(function () { saveButton.disabled = false; });
  });

  toggle.addEventListener("click", function () {
    toggle.disabled = true;
    PT.post("/api/config/rpc/polling", { action: active ? "stop" : "start" }).then(function (d) {
      showPolling(d.isPollingActive);
      say("polling-message", d.message, true);
    }).catch(function (err) {
      toggle.disabled = false;
      say("polling-message", err.message, false);
    });
  });

  PT.get("/api/config/rpc").then(fill).catch(function (err) { say("rpc-message", err.message, false); });
})();
