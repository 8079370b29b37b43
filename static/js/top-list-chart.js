// A Top 10 list's record: the list's equal-weighted value since publication against all
// rated tokens (dashed), as a change from the first day. Data comes from <script
// type="application/json" id="top-list-chart-data"> (json_script); the chart library is
// loaded by chart-support.js, carrying this script's CSP nonce.
(function () {
  "use strict";

  var COLORS = { list: "#2f5bd3", universe: "#16202e", text: "#4a5568", grid: "#eef1f6", border: "#dfe3ea", zero: "#b8c0cc" };
  var LABELS = { list: "This list", universe: "All rated" };

  function pct(value) { return (value > 0 ? "+" : value < 0 ? "\u2212" : "") + Math.abs(value).toFixed(1) + "%"; }

  function draw(container, data) {
    var chart = LightweightCharts.createChart(container, {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "transparent" },
        textColor: COLORS.text,
        fontFamily: getComputedStyle(document.body).fontFamily,
        fontSize: 11,
        attributionLogo: false, // it injects an inline <style>, which the CSP refuses; credited on the page
      },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      rightPriceScale: { borderColor: COLORS.border },
      timeScale: { borderColor: COLORS.border, fixLeftEdge: true, fixRightEdge: true },
      crosshair: { mode: 0 },
      handleScroll: { vertTouchDrag: false },
    });
    var format = { type: "custom", formatter: pct, minMove: 0.01 };
    var first = null;
    data.lines.forEach(function (line) {
      var series = chart.addLineSeries({
        color: COLORS[line.key] || COLORS.text,
        lineWidth: line.key === "universe" ? 2 : 3,
        lineStyle: line.key === "universe" ? 2 : 0,
        priceFormat: format,
        priceLineVisible: false,
        title: LABELS[line.key] || line.key,
      });
      series.setData(line.points);
      if (!first) first = series;
    });
    if (first) first.createPriceLine({ price: 0, color: COLORS.zero, lineWidth: 1, lineStyle: 1, axisLabelVisible: false });
    chart.timeScale().fitContent();

    var times = (data.lines[0] || { points: [] }).points.map(function (p) { return p.time; });
    function describe(time) {
      return time + " · " + data.lines.map(function (line) {
        var point = line.points.filter(function (p) { return p.time === time; })[0];
        return (LABELS[line.key] || line.key) + " " + (point ? pct(point.value) : "—");
      }).join(" · ");
    }
    AccrualCharts.readout(chart, container, times[times.length - 1], describe);
  }

  function init() {
    var source = document.getElementById("top-list-chart-data");
    var container = document.getElementById("top-list-chart");
    if (!source || !container) return;
    var data = JSON.parse(source.textContent);
    if (!(data.lines || []).length) return;
    AccrualCharts.whenVisible(container, function () {
      AccrualCharts.withLibrary(container, function () { draw(container, data); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
