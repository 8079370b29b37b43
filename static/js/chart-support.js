// Shared by the token, rating, track-record and Top 10 charts: the vendored chart library loaded on
// demand (carrying this script's CSP nonce), a chart's data fetched from its data-src once it
// nears the viewport (so neither weighs on the page's first paint), a chart time as an ISO
// date, and the readout line above a chart that follows the crosshair and otherwise shows the last point.
window.AccrualCharts = (function () {
  "use strict";

  var NONCE = document.currentScript ? document.currentScript.nonce : "";

  function withLibrary(container, callback) {
    if (typeof LightweightCharts !== "undefined") return callback();
    var src = container.getAttribute("data-lib");
    if (!src) return;
    var script = document.createElement("script");
    script.src = src;
    if (NONCE) script.nonce = NONCE;
    script.onload = callback;
    document.head.appendChild(script);
  }

  // Calls back once the element is near the viewport (at once without
  // IntersectionObserver).
  function whenVisible(element, callback) {
    if (!("IntersectionObserver" in window)) return callback();
    var observer = new IntersectionObserver(function (entries) {
      if (!entries.some(function (e) { return e.isIntersecting; })) return;
      observer.disconnect();
      callback();
    }, { rootMargin: "200px 0px" });
    observer.observe(element);
  }

  // The container's data-src as JSON, and the chart library, then draw(data).
  function load(container, draw) {
    whenVisible(container, function () {
      fetch(container.getAttribute("data-src"), { headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) { withLibrary(container, function () { draw(data); }); })
        .catch(function () {
          container.classList.add("chart-empty");
          container.textContent = "The chart could not be loaded.";
        });
    });
  }

  function toIso(time) {
    if (typeof time === "string") return time;
    if (time && typeof time === "object") {
      return time.year + "-" + String(time.month).padStart(2, "0") + "-" + String(time.day).padStart(2, "0");
    }
    return new Date(time * 1000).toISOString().slice(0, 10);
  }

  function readout(chart, container, last, describe) {
    var info = document.createElement("div");
    info.className = "chart-readout";
    container.parentNode.insertBefore(info, container);
    info.textContent = last ? describe(last) : "";
    chart.subscribeCrosshairMove(function (param) {
      info.textContent = param.time ? describe(toIso(param.time)) : (last ? describe(last) : "");
    });
  }

  function pct(value) { return (value > 0 ? "+" : value < 0 ? "\u2212" : "") + Math.abs(value).toFixed(1) + "%"; }

  // Cumulative changes in percent, one line per entry of data.lines ({key, points}), a zero
  // line and the readout: the track record's bands and a Top 10 list, each against all rated
  // tokens. options: colors (by key, plus text, grid, border, zero), label(key), dashed (the
  // benchmark line's key) and width(key).
  function changeChart(container, data, options) {
    var colors = options.colors;
    var chart = LightweightCharts.createChart(container, {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "transparent" },
        textColor: colors.text,
        fontFamily: getComputedStyle(document.body).fontFamily,
        fontSize: 11,
        attributionLogo: false, // it injects an inline <style>, which the CSP refuses; credited on the page
      },
      grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
      rightPriceScale: { borderColor: colors.border },
      timeScale: { borderColor: colors.border, fixLeftEdge: true, fixRightEdge: true },
      crosshair: { mode: 0 },
      handleScroll: { vertTouchDrag: false },
    });
    var format = { type: "custom", formatter: pct, minMove: 0.01 };
    var first = null;
    data.lines.forEach(function (line) {
      var series = chart.addLineSeries({
        color: colors[line.key] || colors.text,
        lineWidth: options.width(line.key),
        lineStyle: line.key === options.dashed ? 2 : 0,
        priceFormat: format,
        priceLineVisible: false,
        title: options.label(line.key),
      });
      series.setData(line.points);
      if (!first) first = series;
    });
    if (first) first.createPriceLine({ price: 0, color: colors.zero, lineWidth: 1, lineStyle: 1, axisLabelVisible: false });
    chart.timeScale().fitContent();

    var times = (data.lines[0] || { points: [] }).points.map(function (p) { return p.time; });
    function describe(time) {
      return time + " · " + data.lines.map(function (line) {
        var point = line.points.filter(function (p) { return p.time === time; })[0];
        return options.label(line.key) + " " + (point ? pct(point.value) : "—");
      }).join(" · ");
    }
    readout(chart, container, times[times.length - 1], describe);
  }

  return {
    withLibrary: withLibrary, whenVisible: whenVisible, load: load, toIso: toIso, readout: readout, changeChart: changeChart,
  };
})();
