/* Point-Tron charts: a few small canvas charts, no library, no network.
 *
 * PTCharts.line(canvas, {labels, series: [{name, color, values}], markers, zeroLine})
 * PTCharts.bars(canvas, {labels, series: [{name, color, values}]})      (stacked)
 * PTCharts.candles(canvas, {labels, candles: [{open, high, low, close}], overlays, zeroLine})
 *
 * Values may be null (a gap); a line chart with no value at all shows opts.emptyText. After
 * drawing, each chart sets canvas.dataset.drawnPoints (how many data points it drew) and
 * canvas.dataset.drawnAt, so tests and scripts can tell; candles also set dataset.upColor and
 * dataset.downColor, the colours they drew rising and falling candles in.
 *
 * "Up" and "down" colours follow the page's convention (PT.colors(): red-up or green-up).
 */
(function () {
  "use strict";

  var GRID = "#30363d", MUTED = "#8b949e", TEXT = "#e6edf3";
  function colors() { return window.PT.colors(); }
  var PAD = { left: 52, right: 12, top: 12, bottom: 26 };

  function setup(canvas) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 600, h = canvas.clientHeight || 260;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx: ctx, w: w, h: h };
  }

  function finite(v) { return typeof v === "number" && isFinite(v); }

  function extent(arrays, extra) {
    var lo = Infinity, hi = -Infinity;
    arrays.forEach(function (arr) {
      arr.forEach(function (v) { if (finite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    });
    (extra || []).forEach(function (v) { if (finite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    var pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  }

  function niceStep(range, count) {
    var raw = range / Math.max(count, 1);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  }

  function fmt(v) {
    if (Math.abs(v) >= 1000) return Math.round(v).toString();
    return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(1);
  }

  /* The plot frame: axes, grid, y ticks, x labels; returns the coordinate mappers. */
  function frame(s, n, yr, labels) {
    var ctx = s.ctx;
    var x0 = PAD.left, x1 = s.w - PAD.right, y0 = PAD.top, y1 = s.h - PAD.bottom;
    var slot = (x1 - x0) / Math.max(n, 1);
    var f = {
      x0: x0, x1: x1, y0: y0, y1: y1, slot: slot,
      x: function (i) { return x0 + slot * (i + 0.5); },
      y: function (v) { return y1 - (v - yr[0]) / (yr[1] - yr[0]) * (y1 - y0); }
    };
    ctx.strokeStyle = GRID; ctx.fillStyle = MUTED; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    var step = niceStep(yr[1] - yr[0], 5);
    for (var t = Math.ceil(yr[0] / step) * step; t <= yr[1]; t += step) {
      var yy = Math.round(f.y(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x0, yy); ctx.lineTo(x1, yy); ctx.stroke();
      ctx.fillText(fmt(t), x0 - 6, yy);
    }
    if (labels && labels.length) {
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      var every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor((x1 - x0) / 70))));
      for (var i = 0; i < labels.length; i += every) ctx.fillText(labels[i], f.x(i), y1 + 6);
    }
    ctx.strokeStyle = MUTED;
    ctx.beginPath(); ctx.moveTo(x0 + 0.5, y0); ctx.lineTo(x0 + 0.5, y1); ctx.lineTo(x1, y1 + 0.5); ctx.stroke();
    return f;
  }

  function zero(s, f, yr) {
    if (yr[0] < 0 && yr[1] > 0) {
      var ctx = s.ctx, yy = Math.round(f.y(0)) + 0.5;
      ctx.save(); ctx.setLineDash([4, 4]); ctx.strokeStyle = MUTED;
      ctx.beginPath(); ctx.moveTo(f.x0, yy); ctx.lineTo(f.x1, yy); ctx.stroke(); ctx.restore();
    }
  }

  function polyline(ctx, f, values, color, width) {
    ctx.strokeStyle = color; ctx.lineWidth = width || 1.5; ctx.beginPath();
    var open = false;
    values.forEach(function (v, i) {
      if (!finite(v)) { open = false; return; }
      if (open) ctx.lineTo(f.x(i), f.y(v)); else { ctx.moveTo(f.x(i), f.y(v)); open = true; }
    });
    ctx.stroke();
    ctx.fillStyle = color; // a value with no neighbour is a dot, not an invisible segment
    values.forEach(function (v, i) {
      if (finite(v) && !finite(values[i - 1]) && !finite(values[i + 1])) {
        ctx.beginPath(); ctx.arc(f.x(i), f.y(v), 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    });
  }

  function empty(canvas, s, text) {
    s.ctx.fillStyle = MUTED; s.ctx.textAlign = "center"; s.ctx.textBaseline = "middle";
    s.ctx.fillText(text || window.PT.t("no_data"), s.w / 2, s.h / 2);
    done(canvas, 0);
  }

  function done(canvas, count) {
    canvas.dataset.drawnPoints = String(count);
    canvas.dataset.drawnAt = String(Date.now());
  }

  function line(canvas, opts) {
    var s = setup(canvas), series = opts.series || [];
    var n = series.reduce(function (m, sr) { return Math.max(m, sr.values.length); }, 0);
    var any = series.some(function (sr) { return sr.values.some(finite); });
    if (!n || !any) return empty(canvas, s, opts.emptyText);
    var yr = extent(series.map(function (sr) { return sr.values; }), opts.yFixed);
    var f = frame(s, n, yr, opts.labels);
    if (opts.zeroLine) zero(s, f, yr);
    (opts.bands || []).forEach(function (b) {
      var yy = Math.round(f.y(b.value)) + 0.5;
      s.ctx.save(); s.ctx.setLineDash([2, 4]); s.ctx.strokeStyle = b.color;
      s.ctx.beginPath(); s.ctx.moveTo(f.x0, yy); s.ctx.lineTo(f.x1, yy); s.ctx.stroke(); s.ctx.restore();
    });
    var drawn = 0;
    series.forEach(function (sr) {
      polyline(s.ctx, f, sr.values, sr.color, sr.width);
      drawn += sr.values.filter(finite).length;
    });
    (opts.markers || []).forEach(function (m) {
      if (!finite(m.value)) return;
      s.ctx.fillStyle = m.color;
      s.ctx.beginPath();
      s.ctx.arc(f.x(m.index), f.y(m.value), Math.max(1.5, Math.min(3, f.slot / 2)), 0, 2 * Math.PI);
      s.ctx.fill();
    });
    done(canvas, drawn);
  }

  function bars(canvas, opts) {
    var s = setup(canvas), series = opts.series || [], labels = opts.labels || [];
    var n = labels.length;
    if (!n) return empty(canvas, s);
    var totals = labels.map(function (_, i) {
      return series.reduce(function (sum, sr) { return sum + (sr.values[i] || 0); }, 0);
    });
    var yr = [0, Math.max.apply(null, totals.concat([1])) * 1.08];
    var f = frame(s, n, yr, labels);
    var bw = Math.min(48, Math.max(2, f.slot * 0.7));
    labels.forEach(function (_, i) {
      var base = 0;
      series.forEach(function (sr) {
        var v = sr.values[i] || 0;
        s.ctx.fillStyle = sr.color;
        s.ctx.fillRect(f.x(i) - bw / 2, f.y(base + v), bw, f.y(base) - f.y(base + v));
        base += v;
      });
    });
    done(canvas, n);
  }

  function candles(canvas, opts) {
    var s = setup(canvas), cs = opts.candles || [];
    if (!cs.length) return empty(canvas, s);
    var overlays = opts.overlays || [];
    var yr = extent([cs.map(function (c) { return c.high; }), cs.map(function (c) { return c.low; })]
      .concat(overlays.map(function (o) { return o.values; })));
    var f = frame(s, cs.length, yr, opts.labels);
    if (opts.zeroLine) zero(s, f, yr);
    var bw = Math.min(24, Math.max(1, f.slot * 0.62)), ctx = s.ctx, col = colors();
    canvas.dataset.upColor = col.up;
    canvas.dataset.downColor = col.down;
    cs.forEach(function (c, i) {
      var color = c.close >= c.open ? col.up : col.down;
      var x = Math.round(f.x(i)) + 0.5;
      ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, f.y(c.high)); ctx.lineTo(x, f.y(c.low)); ctx.stroke();
      var top = f.y(Math.max(c.open, c.close)), bottom = f.y(Math.min(c.open, c.close));
      ctx.fillRect(x - bw / 2, top, bw, Math.max(1, bottom - top));
    });
    overlays.forEach(function (o) { polyline(ctx, f, o.values, o.color, 1.2); });
    done(canvas, cs.length);
  }

  /* A legend: [{name, color}] into a container element. */
  function legend(el, items) {
    el.textContent = "";
    items.forEach(function (it) {
      var span = document.createElement("span");
      var dot = document.createElement("span");
      dot.textContent = "\u25CF ";
      dot.style.color = it.color;
      span.appendChild(dot);
      span.appendChild(document.createTextNode(it.name));
      el.appendChild(span);
    });
  }

  window.PTCharts = { line: line, bars: bars, candles: candles, legend: legend, colors: colors, TEXT: TEXT };
})();
