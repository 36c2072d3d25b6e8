/* The dashboard: today's totals, hourly chart, score chart, K-line + RSI, latest blocks.
 * Loaded once over the API, then kept current by the WebSocket (channels block, stats,
 * kline). document.body.dataset.wsUpdates counts the updates received, and
 * document.body.dataset.lastBlock is the newest block shown. */
(function () {
  "use strict";
  if (!PT.requireLogin()) return;

  var MAX_POINTS = 600, MAX_ROWS = 25;
  var state = { points: [], rows: [], period: "1m", klineTimer: null, updates: 0, drawQueued: false };
  var C = window.PTCharts;
  var body = document.body;

  document.getElementById("logout").addEventListener("click", PT.logout);
  document.getElementById("kline-period").addEventListener("change", function (ev) {
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
    PT.text("odd-rate-note", !s.todayTotal ? "" : dev < 2 ? "balanced" : dev < 5 ? "near balance" :
      dev < 10 ? "slight bias" : "biased");
    if (s.currentBlock) {
      PT.text("current-block", "#" + s.currentBlock.number);
      PT.text("current-block-time", PT.time(s.currentBlock.timestamp));
      setLastBlock(s.currentBlock.number);
    }
    var hours = s.hourlyStats || [];
    C.bars(document.getElementById("hourly-chart"), {
      labels: hours.map(function (h) { return h.hour + ":00"; }),
      series: [
        { name: "odd", color: "#f0883e", values: hours.map(function (h) { return h.odd; }) },
        { name: "even", color: "#58a6ff", values: hours.map(function (h) { return h.even; }) }
      ]
    });
  }
  C.legend(document.getElementById("hourly-legend"), [{ name: "odd", color: "#f0883e" }, { name: "even", color: "#58a6ff" }]);

  function loadStats() { return PT.get("/api/blocks/stats").then(showStats); }

  /* --- the score chart, with a marker per block: green +1, red −1 --- */
  function drawPoints() {
    state.drawQueued = false;
    var pts = state.points;
    C.line(document.getElementById("points-chart"), {
      labels: pts.map(function (p) { return PT.time(p.timestamp); }),
      series: [{ name: "score", color: "#e6edf3", values: pts.map(function (p) { return p.cumulative_score; }), width: 1.5 }],
      markers: pts.map(function (p, i) {
        return { index: i, value: p.cumulative_score, color: p.point_change > 0 ? C.DOWN : C.UP };
      }),
      zeroLine: true
    });
    if (pts.length) PT.text("current-score", pts[pts.length - 1].cumulative_score);
  }
  function queueDraw() {
    if (!state.drawQueued) { state.drawQueued = true; window.requestAnimationFrame(drawPoints); }
  }
  C.legend(document.getElementById("points-legend"), [{ name: "+1 even", color: C.DOWN }, { name: "−1 odd", color: C.UP }]);

  function loadPoints() {
    return PT.get("/api/blocks/points?timeRange=1day&limit=" + MAX_POINTS).then(function (d) {
      var known = {};
      state.points.forEach(function (p) { known[p.block_number] = p; });
      d.points.forEach(function (p) { known[p.block_number] = p; });
      state.points = Object.keys(known).map(function (k) { return known[k]; })
        .sort(function (a, b) { return a.block_number - b.block_number; }).slice(-MAX_POINTS);
      drawPoints();
    });
  }

  /* --- K-line with MA5/10/20, and RSI 14 --- */
  function loadKline() {
    var q = "?period=" + state.period + "&limit=60";
    return Promise.all([PT.get("/api/blocks/kline" + q), PT.get("/api/blocks/kline/indicators" + q)])
      .then(function (r) {
        var candles = r[0].klineData, ind = r[1].indicators;
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
          labels: labels, yFixed: [0, 100],
          series: [{ name: "RSI", color: "#f2cc60", values: ind.rsi }],
          bands: [{ value: 70, color: C.UP }, { value: 30, color: C.DOWN }]
        });
      });
  }
  C.legend(document.getElementById("kline-legend"), [
    { name: "MA5", color: "#d2a8ff" }, { name: "MA10", color: "#f2cc60" }, { name: "MA20", color: "#58a6ff" }
  ]);
  function queueKline() {
    if (state.klineTimer === null) {
      state.klineTimer = window.setTimeout(function () { state.klineTimer = null; loadKline(); }, 1500);
    }
  }

  /* --- latest blocks table --- */
  function row(b) {
    var tr = document.createElement("tr");
    var badge = document.createElement("span");
    badge.className = "badge " + (b.isOdd ? "odd" : "even");
    badge.textContent = b.isOdd ? "odd" : "even";
    var cells = ["#" + b.number, b.hash.slice(0, 24) + "…", String(b.lastDigit), badge,
      b.change === null ? "" : (b.change > 0 ? "+1" : "−1"), b.score === null ? "" : String(b.score),
      String(b.txCount), PT.time(b.timestamp)];
    cells.forEach(function (c, i) {
      var td = document.createElement("td");
      if (i === 1) td.className = "hash";
      if (i === 4 && b.change !== null) td.className = b.change > 0 ? "pos" : "neg";
      if (typeof c === "string") td.textContent = c; else td.appendChild(c);
      tr.appendChild(td);
    });
    tr.dataset.block = String(b.number);
    return tr;
  }
  function renderRows(fresh) {
    var tbody = document.getElementById("blocks-body");
    tbody.textContent = "";
    state.rows.forEach(function (b) {
      var tr = row(b);
      if (fresh && fresh[b.number]) tr.className = "fresh";
      tbody.appendChild(tr);
    });
  }
  function loadBlocks() {
    return PT.get("/api/blocks/history?limit=" + MAX_ROWS).then(function (rows) {
      var scores = {};
      state.points.forEach(function (p) { scores[p.block_number] = p; });
      state.rows = rows.map(function (r) {
        var p = scores[r.block_number];
        return { number: r.block_number, hash: r.block_hash, lastDigit: r.last_digit, isOdd: r.is_odd,
          change: p ? p.point_change : null, score: p ? p.cumulative_score : null,
          txCount: r.tx_count, timestamp: r.timestamp };
      });
      renderRows();
      if (rows.length) setLastBlock(rows[0].block_number);
    });
  }

  function loadStatus() {
    return PT.get("/api/system/status").then(function (s) {
      var p = s.rpcPolling;
      var chain = p.chain && p.chain.state !== "ok" ? p.chain : null;  /* behind, fork, fork_too_deep */
      PT.text("poller-state", !p.alive ? "dead" : !p.isActive ? "paused" : p.consecutiveErrors ? "failing" :
        chain ? "degraded: " + chain.state : "running");
      PT.text("poller-note", p.consecutiveErrors ? p.consecutiveErrors + " failed ticks: " + (p.lastError || "") :
        chain ? chain.reason + " (gap " + chain.gap + ")" : "every " + p.interval + " ms");
    });
  }

  /* --- live updates --- */
  function onUpdate(msg) {
    state.updates += 1;
    body.dataset.wsUpdates = String(state.updates);
    if (msg.channel === "block") {
      var b = msg.data;
      /* after a rollback (a fork) the node's blocks come again: drop ours from there on */
      state.points = state.points.filter(function (p) { return p.block_number < b.blockNumber; });
      state.rows = state.rows.filter(function (r) { return r.number < b.blockNumber; });
      state.points.push({ block_number: b.blockNumber, cumulative_score: b.cumulativeScore,
        point_change: b.pointChange, timestamp: b.timestamp });
      if (state.points.length > MAX_POINTS) state.points.splice(0, state.points.length - MAX_POINTS);
      state.rows.unshift({ number: b.blockNumber, hash: b.blockHash, lastDigit: b.lastDigit, isOdd: b.isOdd,
        change: b.pointChange, score: b.cumulativeScore, txCount: b.txCount, timestamp: b.timestamp });
      state.rows = state.rows.slice(0, MAX_ROWS);
      var fresh = {}; fresh[b.blockNumber] = true;
      renderRows(fresh);
      PT.text("current-block", "#" + b.blockNumber);
      PT.text("current-block-time", PT.time(b.timestamp));
      setLastBlock(b.blockNumber);
      queueDraw();
    } else if (msg.channel === "stats") {
      showStats(msg.data);
    } else if (msg.channel === "kline") {
      queueKline();
    }
  }
  function onState(s) {
    var el = document.getElementById("ws-status");
    el.textContent = s;
    el.className = "badge " + (s === "live" ? "live" : "off");
    body.dataset.ws = s;
  }

  loadPoints()
    .then(function () { return Promise.all([loadStats(), loadBlocks(), loadKline(), loadStatus()]); })
    .catch(function (err) { PT.text("poller-note", err.message); })
    .then(function () {
      PT.live(["block", "stats", "kline"], onUpdate, onState);
      window.setInterval(loadStatus, 5000);
      window.addEventListener("resize", function () { drawPoints(); loadKline(); loadStats(); });
    });
})();
