/* The K-line page: candles (+ the open candle when live), MA5/10/20, RSI 14, candle stats. */
(function () {
  "use strict";
  if (!PT.requireLogin()) return;
  var C = window.PTCharts;
  var periodEl = document.getElementById("period"), limitEl = document.getElementById("limit");
  var realtimeEl = document.getElementById("realtime");
  var socket = null, timer = null;

  document.getElementById("logout").addEventListener("click", PT.logout);
  C.legend(document.getElementById("kline-legend"), [
    { name: "MA5", color: "#d2a8ff" }, { name: "MA10", color: "#f2cc60" }, { name: "MA20", color: "#58a6ff" }
  ]);

  function load() {
    var q = "?period=" + periodEl.value + "&limit=" + limitEl.value;
    var live = realtimeEl.checked;
    return Promise.all([
      PT.get("/api/blocks/kline" + q + (live ? "&realtime=true" : "")),
      PT.get("/api/blocks/kline/indicators" + q),
      PT.get("/api/blocks/kline/stats?period=" + periodEl.value + "&limit=" + limitEl.value)
    ]).then(function (r) {
      var candles = r[0].klineData.slice();
      if (r[0].currentCandle) candles.push(r[0].currentCandle);
      var ind = r[1].indicators, st = r[2].stats;
      var labels = candles.map(function (c) { return PT.time(c.timestamp); });
      var overlays = [
        { name: "MA5", color: "#d2a8ff", values: ind.ma5 },
        { name: "MA10", color: "#f2cc60", values: ind.ma10 },
        { name: "MA20", color: "#58a6ff", values: ind.ma20 }
      ];
      C.candles(document.getElementById("kline-chart"), { labels: labels, candles: candles, overlays: overlays, zeroLine: true });
      C.line(document.getElementById("ma-chart"), {
        labels: labels, zeroLine: true,
        series: [{ name: "close", color: "#e6edf3", values: candles.map(function (c) { return c.close; }) }].concat(overlays)
      });
      C.line(document.getElementById("rsi-chart"), {
        labels: labels, yFixed: [0, 100], series: [{ name: "RSI", color: "#f2cc60", values: ind.rsi }],
        bands: [{ value: 70, color: C.UP }, { value: 30, color: C.DOWN }]
      });
      PT.text("s-total", (st.totalChange > 0 ? "+" : "") + st.totalChange);
      PT.text("s-gain", "+" + st.maxGain);
      PT.text("s-loss", "−" + st.maxLoss);
      PT.text("s-count", st.positiveCount + " / " + st.negativeCount);
      PT.text("s-win", st.winRate.toFixed(1) + " %");
      PT.text("s-vol", st.avgVolume.toFixed(1) + " · " + st.volatility.toFixed(2));
    });
  }

  function onState(s) {
    var el = document.getElementById("ws-status");
    el.textContent = s;
    el.className = "badge " + (s === "live" ? "live" : "off");
  }

  function setLive() {
    if (realtimeEl.checked && !socket) {
      socket = PT.live(["kline"], function () {
        if (timer === null) timer = window.setTimeout(function () { timer = null; load(); }, 1000);
      }, onState);
    } else if (!realtimeEl.checked && socket) {
      socket.close(); socket = null; onState("offline");
    }
  }

  periodEl.addEventListener("change", load);
  limitEl.addEventListener("change", load);
  realtimeEl.addEventListener("change", function () { setLive(); load(); });
  window.addEventListener("resize", load);
  load().catch(function (err) { PT.text("s-total", err.message); });
})();
