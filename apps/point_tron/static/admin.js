/* The dashboard: today's totals, hourly chart, score chart, K-line + RSI, latest blocks.
 * The WebSocket (channels block, stats, kline) is opened first and its updates are held
 * until the first load over the API is done, then applied on top of it: no block that
 * arrives meanwhile is lost, and every row of the latest-blocks table has its change and
 * score (the history API returns them with the block). document.body.dataset.wsUpdates counts
 * the updates received, and document.body.dataset.lastBlock is the newest block shown. */
(function () {
  "use strict";
  if (!PT.requireLogin()) return;

  /* the score chart keeps the newest blocks, as many as its heading says */
  var MAX_POINTS = Number(document.getElementById("points-chart").dataset.maxPoints), MAX_ROWS = 25;
  var state = { points: [], rows: [], period: "auto", klineTimer: null, updates: 0, drawQueued: false,
    loaded: false, held: [] };
  var C = window.PTCharts;
  var body = document.body;
  var periodEl = document.getElementById("kline-period");

  document.getElementById("logout").addEventListener("click", PT.logout);
  periodEl.addEventListener("change", function (ev) {
    state.period = ev.target.value;
    loadKline();
  });

  function setLastBlock(n) {
    var prev = Number(body.dataset.lastBlock || 0);
    if (n > prev) body.dataset.lastBlock = String(n);
  }

  /* --- today's totals and the hourly chart --- */
  function showStats(s) {
    PT.text("today-total", s.todayTotal);
    PT.text("today-odd", s.todayOdd);
    PT.text("today-even", s.todayEven);
    var rate = s.todayTotal ? (s.todayOdd / s.todayTotal * 100) : 0;
    PT.text("odd-rate", s.todayTotal ? rate.toFixed(2) + " %" : "–");
    var dev = Math.abs(50 - rate);
    PT.text("odd-rate-note", !s.todayTotal ? "" : PT.t(dev < 2 ? "balanced" : dev < 5 ? "near_balance" :
      dev < 10 ? "slight_bias" : "biased"));
    if (s.currentBlock) {
      PT.text("current-block", "#" + s.currentBlock.number);
      PT.text("current-block-time", PT.time(s.currentBlock.timestamp));
      setLastBlock(s.currentBlock.number);
    }
    var hours = s.hourlyStats || [];
    C.bars(document.getElementById("hourly-chart"), {
      labels: hours.map(function (h) { return h.hour + ":00"; }),
      series: [
        { name: PT.t("odd"), color: "#f0883e", values: hours.map(function (h) { return h.odd; }) },
        { name: PT.t("even"), color: "#58a6ff", values: hours.map(function (h) { return h.even; }) }
      ]
    });
  }
  C.legend(document.getElementById("hourly-legend"), [{ name: PT.t("odd"), color: "#f0883e" },
    { name: PT.t("even"), color: "#58a6ff" }]);

  function loadStats() { return PT.get("/api/blocks/stats").then(showStats); }

  /* --- the score chart, with a marker per block in the up (+1) or down (−1) colour --- */
  function drawPoints() {
    state.drawQueued = false;
    var pts = state.points, col = C.colors();
    C.line(document.getElementById("points-chart"), {
      labels: pts.map(function (p) { return PT.time(p.timestamp); }),
      series: [{ name: PT.t("score"), color: "#e6edf3", values: pts.map(function (p) { return p.cumulative_score; }), width: 1.5 }],
      markers: pts.map(function (p, i) {
        return { index: i, value: p.cumulative_score, color: p.point_change > 0 ? col.up : col.down };
      }),
      zeroLine: true
    });
    if (pts.length) PT.text("current-score", pts[pts.length - 1].cumulative_score);
  }
  function queueDraw() {
    if (!state.drawQueued) { state.drawQueued = true; window.requestAnimationFrame(drawPoints); }
  }
  C.legend(document.getElementById("points-legend"), [{ name: PT.t("plus_even"), color: C.colors().up },
    { name: PT.t("minus_odd"), color: C.colors().down }]);

  function loadPoints() {
    return PT.get("/api/blocks/points?timeRange=1day&limit=" + MAX_POINTS).then(function (d) {
      var known = {};
      d.points.forEach(function (p) { known[p.block_number] = p; });
      state.points.forEach(function (p) { known[p.block_number] = p; });
      state.points = Object.keys(known).map(function (k) { return known[k]; })
        .sort(function (a, b) { return a.block_number - b.block_number; }).slice(-MAX_POINTS);
      drawPoints();
    });
  }

  /* --- K-line with MA5/10/20, and RSI 14; "auto" lets the server pick a period with data --- */
  function loadKline() {
    return PT.get("/api/blocks/kline?period=" + state.period + "&limit=60").then(function (k) {
      var period = k.period;
      if (state.period === "auto") { state.period = period; periodEl.value = period; }
      return PT.get("/api/blocks/kline/indicators?period=" + period + "&limit=60").then(function (r) {
        var candles = k.klineData, ind = r.indicators, col = C.colors();
        var labels = candles.map(function (c) { return PT.time(c.timestamp); });
        C.candles(document.getElementById("kline-chart"), {
          labels: labels, candles: candles, zeroLine: true,
          overlays: [
            { name: "MA5", color: "#d2a8ff", values: ind.ma5 },
            { name: "MA10", color: "#f2cc60", values: ind.ma10 },
            { name: "MA20", color: "#58a6ff", values: ind.ma20 }
          ]
        });
        C.line(document.getElementById("rsi-chart"), {
          labels: labels, yFixed: [0, 100], emptyText: candles.length ? PT.t("rsi_needs") : undefined,
          series: [{ name: "RSI", color: "#f2cc60", values: ind.rsi }],
          bands: [{ value: 70, color: col.up }, { value: 30, color: col.down }]
        });
      });
    });
  }
  C.legend(document.getElementById("kline-legend"), [
    { name: PT.t("up"), color: C.colors().up }, { name: PT.t("down"), color: C.colors().down },
    { name: "MA5", color: "#d2a8ff" }, { name: "MA10", color: "#f2cc60" }, { name: "MA20", color: "#58a6ff" }
  ]);
  function queueKline() {
    if (state.klineTimer === null) {
      state.klineTimer = window.setTimeout(function () { state.klineTimer = null; loadKline(); }, 1500);
    }
  }

  /* --- latest blocks table: a row is shown only once its change and score are known --- */
  var COLUMNS = ["", "col-hash", "col-digit", "", "", "", "col-txs", ""];
  function complete(b) { return typeof b.change === "number" && typeof b.score === "number"; }
  function row(b) {
    var tr = document.createElement("tr");
    var badge = document.createElement("span");
    badge.className = "badge " + (b.isOdd ? "odd" : "even");
    badge.textContent = PT.t(b.isOdd ? "odd" : "even");
    var cells = ["#" + b.number, b.hash.slice(0, 24) + "…", String(b.lastDigit), badge,
      b.change > 0 ? "+1" : "−1", String(b.score), String(b.txCount), PT.time(b.timestamp)];
    cells.forEach(function (c, i) {
      var td = document.createElement("td");
      var cls = [COLUMNS[i]];
      if (i === 1) cls.push("hash");
      if (i === 4) cls.push(b.change > 0 ? "pos" : "neg");
      td.className = cls.join(" ").trim();
      if (typeof c === "string") td.textContent = c; else td.appendChild(c);
      tr.appendChild(td);
    });
    tr.dataset.block = String(b.number);
    return tr;
  }
  function renderRows(fresh) {
    var tbody = document.getElementById("blocks-body");
    var frag = document.createDocumentFragment();
    state.rows.filter(complete).forEach(function (b) {
      var tr = row(b);
      if (fresh && fresh[b.number]) tr.className = "fresh";
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
  }
  function loadBlocks() {
    return PT.get("/api/blocks/history?limit=" + MAX_ROWS).then(function (rows) {
      var known = {};
      rows.forEach(function (r) {
        known[r.block_number] = { number: r.block_number, hash: r.block_hash, lastDigit: r.last_digit,
          isOdd: r.is_odd, change: r.point_change, score: r.cumulative_score, txCount: r.tx_count,
          timestamp: r.timestamp };
      });
      state.rows.forEach(function (b) { known[b.number] = b; });  /* live rows are newer */
      state.rows = Object.keys(known).map(function (k) { return known[k]; })
        .sort(function (a, b) { return b.number - a.number; }).slice(0, MAX_ROWS);
      renderRows();
      if (rows.length) setLastBlock(rows[0].block_number);
    });
  }

  function loadStatus() {
    return PT.get("/api/system/status").then(function (s) {
      var p = s.rpcPolling;
      var chain = p.chain && p.chain.state !== "ok" ? p.chain : null;  /* behind, fork, fork_too_deep */
      PT.text("poller-state", !p.alive ? PT.t("poller_dead") : !p.isActive ? PT.t("poller_paused") :
        p.consecutiveErrors ? PT.t("poller_failing") :
        chain ? PT.t("poller_degraded", { state: PT.t("chain_" + chain.state) }) : PT.t("poller_running"));
      /* the chain's state in the page's words (its "reason" is the log's English sentence) */
      PT.text("poller-note", p.consecutiveErrors ? PT.t("failed_ticks", { n: p.consecutiveErrors, error: p.lastError || "" }) :
        chain ? PT.t("chain_note_" + chain.state, { gap: chain.gap, node: chain.nodeHeight, stored: chain.storedHeight }) :
        PT.t("every_ms", { n: p.interval }));
    });
  }

  /* --- live updates --- */
  function applyBlock(b) {
    /* after a rollback (a fork) the node's blocks come again: drop ours from there on */
    state.points = state.points.filter(function (p) { return p.block_number < b.blockNumber; });
    state.rows = state.rows.filter(function (r) { return r.number < b.blockNumber; });
    state.points.push({ block_number: b.blockNumber, cumulative_score: b.cumulativeScore,
      point_change: b.pointChange, timestamp: b.timestamp });
    if (state.points.length > MAX_POINTS) state.points.splice(0, state.points.length - MAX_POINTS);
    state.rows.unshift({ number: b.blockNumber, hash: b.blockHash, lastDigit: b.lastDigit, isOdd: b.isOdd,
      change: b.pointChange, score: b.cumulativeScore, txCount: b.txCount, timestamp: b.timestamp });
    state.rows = state.rows.slice(0, MAX_ROWS);
    PT.text("current-block", "#" + b.blockNumber);
    PT.text("current-block-time", PT.time(b.timestamp));
    setLastBlock(b.blockNumber);
  }
  function onUpdate(msg) {
    state.updates += 1;
    body.dataset.wsUpdates = String(state.updates);
    if (!state.loaded) { state.held.push(msg); return; }
    if (msg.channel === "block") {
      applyBlock(msg.data);
      var fresh = {}; fresh[msg.data.blockNumber] = true;
      renderRows(fresh);
      queueDraw();
    } else if (msg.channel === "stats") {
      showStats(msg.data);
    } else if (msg.channel === "kline") {
      queueKline();
    }
  }
  function onState(s) {
    var el = document.getElementById("ws-status");
    el.textContent = PT.t(s);
    el.className = "badge " + (s === "live" ? "live" : "off");
    body.dataset.ws = s;
  }

  PT.live(["block", "stats", "kline"], onUpdate, onState);
  loadPoints()
    .then(function () { return Promise.all([loadStats(), loadBlocks(), loadKline(), loadStatus()]); })
    .catch(function (err) { PT.text("poller-note", err.message); })
    .then(function () {
      state.loaded = true;
      var held = state.held;
      state.held = [];
      /* blocks the first load already had are not applied again (that would drop newer rows) */
      var newest = state.rows.length ? state.rows[0].number : 0;
      held.forEach(function (msg) {
        if (msg.channel === "block" && msg.data.blockNumber <= newest) return;
        onUpdate(msg);
        state.updates -= 1;
      });
      body.dataset.wsUpdates = String(state.updates);
      renderRows();
      drawPoints();
      window.setInterval(loadStatus, 5000);
      window.addEventListener("resize", function () { drawPoints(); loadKline(); loadStats(); });
    });
})();
