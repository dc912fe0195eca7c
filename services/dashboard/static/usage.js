// The usage page, enhanced: Chart.js charts drawn from the JSON in #usage-data's data-chart
// attribute (no inline script), sortable tables, and the viewer's time zone. Does nothing on
// other pages.
(function () {
  "use strict";

  // Categorical colours readable on the light and the dark surface alike.
  var CATEGORIES = ["#5b6ef5", "#2fa36b", "#e0883a", "#c94f7c", "#3a9fc9", "#8d6be0", "#b59b2b", "#7a8699", "#d9644a", "#4bb3a6"];
  var TZ_NAME = /^[A-Za-z0-9_+\-\/]{1,64}$/;

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function theme() {
    return {
      text: css("--text"), muted: css("--muted"), grid: css("--border"), accent: css("--accent"),
      danger: css("--danger"), success: css("--success"), warning: css("--warning"), surface: css("--surface")
    };
  }

  function readData() {
    var node = document.getElementById("usage-data");
    if (!node) return null;
    try { return JSON.parse(node.getAttribute("data-chart")); } catch (e) { return null; }
  }

  // The browser's zone is remembered in a cookie; a page drawn in the server's default (UTC)
  // is reloaded once in the viewer's zone.
  function syncTimeZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone || !TZ_NAME.test(zone)) return;
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    var box = document.querySelector("[data-tz-source]");
    if (box && box.getAttribute("data-tz-source") === "default" && box.getAttribute("data-tz") !== zone) {
      var url = new URL(window.location.href);
      url.searchParams.set("tz", zone);
      window.location.replace(url.toString());
    }
  }

  function shortLabel(point, bucket, many) {
    if (bucket === "day") return point.label.slice(5);
    return many ? point.label.slice(5, 13) + "h" : point.label.slice(11);
  }

  function axes(t, extra) {
    var base = {
      x: { stacked: !!(extra && extra.stacked), grid: { display: false }, ticks: { color: t.muted, maxRotation: 0, autoSkipPadding: 12 } },
      y: { stacked: !!(extra && extra.stacked), beginAtZero: true, grid: { color: t.grid }, ticks: { color: t.muted } }
    };
    if (extra && extra.percentAxis) {
      base.y1 = { position: "right", beginAtZero: true, suggestedMax: 10, grid: { display: false },
                  ticks: { color: t.muted, callback: function (v) { return v + "%"; } } };
    }
    return base;
  }

  function options(t, extra) {
    return {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { color: t.text, boxWidth: 12 } }, tooltip: {} },
      scales: axes(t, extra)
    };
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var old = window.Chart.getChart(canvas);
    if (old) old.destroy();
    new window.Chart(canvas, config);
    canvas.setAttribute("data-drawn", "1");
  }

  // "#rrggbb" with an alpha channel (fills under a line stay see-through).
  function alpha(hex, value) {
    if (!/^#[0-9a-f]{6}$/i.test(hex)) return hex;
    return hex + Math.round(value * 255).toString(16).padStart(2, "0");
  }

  function column(series, name) {
    return series.map(function (p) { return p[name] || 0; });
  }

  // htmx swaps pages without reloading: release charts whose canvas left the document.
  function releaseDetached() {
    if (!window.Chart) return;
    Object.keys(window.Chart.instances).forEach(function (id) {
      var chart = window.Chart.instances[id];
      if (!document.body.contains(chart.canvas)) chart.destroy();
    });
  }

  function drawAll() {
    releaseDetached();
    var data = readData();
    if (!data || !window.Chart) return;
    var t = theme();
    var s = data.series;
    var labels = s.map(function (p) { return shortLabel(p, data.bucket, s.length > 24); });
    var failed = column(s, "failures");
    draw("chart-requests", {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "Succeeded", data: s.map(function (p) { return p.requests - p.failures; }), backgroundColor: t.success },
        { label: "Failed", data: failed, backgroundColor: t.danger }
      ] },
      options: options(t, { stacked: true })
    });
    draw("chart-tokens", {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "Input", data: s.map(function (p) { return p.inputTokens - p.cachedTokens; }), backgroundColor: CATEGORIES[0] },
        { label: "Cached input", data: column(s, "cachedTokens"), backgroundColor: CATEGORIES[4] },
        { label: "Output", data: column(s, "outputTokens"), backgroundColor: CATEGORIES[2] }
      ] },
      options: options(t, { stacked: true })
    });
    draw("chart-cost", {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "Cost (USD)", data: column(s, "costUsd"), backgroundColor: t.accent }] },
      options: options(t)
    });
    draw("chart-latency", {
      type: "line",
      data: { labels: labels, datasets: [
        // p95 is drawn on top (lowest order) and thickest: with few requests an hour it is close
        // to the average, whose line used to cover it. The average is a thinner line over a
        // soft fill, the error rate a thin dashed line on its own axis.
        { label: "p95 (ms)", data: s.map(function (p) { return p.latencyP95Ms; }), borderColor: t.warning, backgroundColor: t.warning, borderWidth: 3.5, spanGaps: true, pointRadius: 3, pointHoverRadius: 5, order: 0 },
        { label: "Average (ms)", data: s.map(function (p) { return p.latencyAvgMs; }), borderColor: t.accent, backgroundColor: alpha(t.accent, 0.14), fill: "origin", borderWidth: 2, spanGaps: true, pointRadius: 0, pointHoverRadius: 4, order: 1 },
        { label: "Errors (%)", data: s.map(function (p) { return p.errorRate === null ? null : p.errorRate * 100; }), borderColor: t.danger, backgroundColor: t.danger, borderWidth: 1.5, borderDash: [4, 4], yAxisID: "y1", spanGaps: true, pointRadius: 0, order: 2 }
      ] },
      options: options(t, { percentAxis: true })
    });
    var byCost = data.models.some(function (m) { return m.costUsd > 0; });
    draw("chart-models", {
      type: "doughnut",
      data: { labels: data.models.map(function (m) { return m.label; }), datasets: [{
        data: data.models.map(function (m) { return byCost ? m.costUsd : m.requests; }),
        backgroundColor: CATEGORIES, borderColor: t.surface, borderWidth: 2
      }] },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 plugins: { legend: { position: "right", labels: { color: t.text, boxWidth: 12 } } } }
    });
    var keyOptions = options(t);
    keyOptions.indexAxis = "y";
    keyOptions.scales = { x: { beginAtZero: true, grid: { color: t.grid }, ticks: { color: t.muted } },
                          y: { grid: { display: false }, ticks: { color: t.text } } };
    keyOptions.plugins.legend = { display: false };
    draw("chart-keys", {
      type: "bar",
      data: { labels: data.keys.map(function (k) { return k.label; }), datasets: [{
        label: "Requests", data: data.keys.map(function (k) { return k.requests; }), backgroundColor: CATEGORIES[5]
      }] },
      options: keyOptions
    });
  }

  // Sorting: each header button sorts its column by the cells' data-value.
  function sortBy(button) {
    var th = button.closest("th");
    var table = button.closest("table");
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = button.getAttribute("data-sort") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-value") || "";
      var y = b.cells[index].getAttribute("data-value") || "";
      var order = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("thead th").forEach(function (cell) { cell.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("table.sortable button.sort");
    if (button) sortBy(button);
  });

  function enhance() {
    if (!document.getElementById("usage-data") && !document.querySelector("[data-tz-source]")) return;
    syncTimeZone();
    drawAll();
  }

  document.addEventListener("DOMContentLoaded", enhance);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target === document.body) { releaseDetached(); enhance(); }
  });
  document.addEventListener("themechange", drawAll);
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
  }
})();
