/* The K-line page: candles (+ the open candle when live), MA5/10/20, RSI 14, candle stats.
 * It opens on the period the server picks as having data (period=auto) with live updates
 * on; the period chosen in the select is kept from then on. */
(function () {
  "use strict";
  if (!PT.requireLogin()) return;
  var C = window.PTCharts;
  var periodEl = document.getElementById("period"), limitEl = document.getElementById("limit");
  var realtimeEl = document.getElementById("realtime");
  var socket = null, timer = null, period = "auto";

  document.getElementById("logout").addEventListener("click", PT.logout);
  var MA = [{ name: "MA5", color: "#d2a8ff" }, { name: "MA10", color: "#f2cc60" }, { name: "MA20", color: "#58a6ff" }];
  C.legend(document.getElementById("kline-legend"),
    [{ name: PT.t("up"), color: C.colors().up }, { name: PT.t("down"), color: C.colors().down }].concat(MA));
  C.legend(document.getElementById("ma-legend"), [{ name: PT.t("close"), color: "#e6edf3" }].concat(MA));

  function signed(n) { return (n > 0 ? "+" : n < 0 ? "−" : "") + Math.abs(n); }
  function tone(id, n) {
    var el = document.getElementById(id);
    el.className = "value" + (n > 0 ? " pos" : n < 0 ? " neg" : "");
  }

  function load() {
    var live = realtimeEl.checked;
    return PT.get("/api/blocks/kline?period=" + period + "&limit=" + limitEl.value + (live ? "&realtime=true" : ""))
      .then(function (k) {
        if (period === "auto") { period = k.period; }
        periodEl.value = k.period;
        var q = "?period=" + k.period + "&limit=" + limitEl.value;
        return Promise.all([k, PT.get("/api/blocks/kline/indicators" + q), PT.get("/api/blocks/kline/stats" + q)]);
      }).then(function (r) {
        var candles = r[0].klineData.slice();
        if (r[0].currentCandle) candles.push(r[0].currentCandle);
        var ind = r[1].indicators, st = r[2].stats, col = C.colors();
        var labels = candles.map(function (c) { return PT.time(c.timestamp); });
        var overlays = MA.map(function (m, i) {
          return { name: m.name, color: m.color, values: [ind.ma5, ind.ma10, ind.ma20][i] };
        });
        C.candles(document.getElementById("kline-chart"), { labels: labels, candles: candles, overlays: overlays, zeroLine: true });
        C.line(document.getElementById("ma-chart"), {
          labels: labels, zeroLine: true,
          series: [{ name: PT.t("close"), color: "#e6edf3", values: candles.map(function (c) { return c.close; }) }].concat(overlays)
        });
        C.line(document.getElementById("rsi-chart"), {
          labels: labels, yFixed: [0, 100], emptyText: candles.length ? PT.t("rsi_needs") : undefined,
          series: [{ name: "RSI", color: "#f2cc60", values: ind.rsi }],
          bands: [{ value: 70, color: col.up }, { value: 30, color: col.down }]
        });
        PT.text("s-total", signed(st.totalChange));
        tone("s-total", st.totalChange);
        PT.text("s-gain", "+" + st.maxGain);
        PT.text("s-loss", "−" + st.maxLoss);
        PT.text("s-count", st.positiveCount + " / " + st.negativeCount);
        PT.text("s-win", st.winRate.toFixed(1) + " %");
        /* no decimal past 100 blocks a candle (a day's candle has 28800 at 3 s a block) */
        PT.text("s-vol", st.avgVolume.toFixed(st.avgVolume >= 100 ? 0 : 1) + " · " + st.volatility.toFixed(2));
        document.body.dataset.period = r[0].period;
      });
  }

  function onState(s) {
    var el = document.getElementById("ws-status");
    el.textContent = PT.t(s);
    el.className = "badge " + (s === "live" ? "live" : "off");
    document.body.dataset.ws = s;
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

  periodEl.addEventListener("change", function () { period = periodEl.value; load(); });
  limitEl.addEventListener("change", load);
  realtimeEl.addEventListener("change", function () { setLive(); load(); });
  window.addEventListener("resize", load);
  setLive();
  load().catch(function (err) { PT.text("s-total", err.message); });
})();
