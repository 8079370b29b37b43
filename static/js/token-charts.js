// Token page charts: daily price with buyback markers, and revenue as stacked bars
// (protocol revenue on top of holders revenue) with a daily/monthly toggle.
// Data (from the price chart's data-src) and the chart library are loaded by chart-support.js
// when the charts near the viewport.
(function () {
  "use strict";

  var MAX_DAILY_MARKERS = 60;
  var MAX_LABELLED_MARKERS = 10; // past this, amounts show in the readout only
  var COLORS = {
    line: "#2f5bd3",
    protocol: "#a9b8d6",
    holders: "#1f9d6b",
    buyback: "#c77700",
    text: "#4a5568",
    grid: "#eef1f6",
    border: "#dfe3ea",
  };

  function compactUsd(value) {
    var abs = Math.abs(value);
    var sign = value < 0 ? "−" : "";
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) {
      if (abs >= units[i][0]) return sign + "$" + (abs / units[i][0]).toFixed(abs / units[i][0] >= 100 ? 0 : 1) + units[i][1];
    }
    if (abs >= 1) return sign + "$" + abs.toFixed(2);
    if (abs === 0) return "$0";
    return sign + "$" + abs.toPrecision(3);
  }

  function priceText(value) {
    var abs = Math.abs(value);
    if (abs >= 1000) return "$" + value.toLocaleString("en-US", { maximumFractionDigits: 0 });
    if (abs >= 1) return "$" + value.toFixed(2);
    if (abs === 0) return "$0";
    return "$" + abs.toPrecision(4);
  }

  function baseOptions() {
    return {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "transparent" },
        textColor: COLORS.text,
        fontFamily: getComputedStyle(document.body).fontFamily,
        fontSize: 11,
        attributionLogo: false, // the logo injects an inline <style>, which the CSP refuses; credited in the page instead
      },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      rightPriceScale: { borderColor: COLORS.border },
      timeScale: { borderColor: COLORS.border, fixLeftEdge: true, fixRightEdge: true },
      crosshair: { mode: 0 },
      handleScroll: { vertTouchDrag: false },
    };
  }

  function buybackMarkers(buybacks, times, position) {
    var present = new Set(times);
    var shown = buybacks.filter(function (b) { return present.has(b.time); });
    var labelled = shown.length <= MAX_LABELLED_MARKERS;
    return shown.map(function (b) {
      return { time: b.time, position: position, color: COLORS.buyback, shape: "arrowUp", text: labelled ? compactUsd(b.usd) : "" };
    });
  }

  function buybackText(buybacks, time) {
    for (var i = 0; i < buybacks.length; i++) if (buybacks[i].time === time) return " · bought back " + compactUsd(buybacks[i].usd);
    return "";
  }

  function monthKey(time) { return time.slice(0, 7) + "-01"; }

  function readout(container) {
    var el = document.createElement("div");
    el.className = "chart-readout";
    container.parentNode.insertBefore(el, container);
    return el;
  }

  function drawPrice(container, data) {
    if (!data.price.length) { container.classList.add("chart-empty"); container.textContent = "No price history."; return; }
    var chart = LightweightCharts.createChart(container, baseOptions());
    var series = chart.addLineSeries({
      color: COLORS.line,
      lineWidth: 2,
      priceLineVisible: false,
      priceFormat: { type: "custom", formatter: priceText, minMove: 1e-12 },
    });
    series.setData(data.price);
    var times = data.price.map(function (p) { return p.time; });
    var buybacks = data.buybacks.length <= MAX_DAILY_MARKERS
      ? data.buybacks
      : data.buybacks_monthly.map(function (b) { return { time: firstTimeInMonth(times, b.time), usd: b.usd }; });
    series.setMarkers(buybackMarkers(buybacks, times, "belowBar"));
    chart.timeScale().fitContent();
    var info = readout(container);
    var last = data.price[data.price.length - 1];
    function describe(point) { return point.time + " · " + priceText(point.value) + buybackText(data.buybacks, point.time); }
    info.textContent = describe(last);
    chart.subscribeCrosshairMove(function (param) {
      var point = param.time && param.seriesData.get(series);
      info.textContent = describe(point ? { time: toIso(point.time), value: point.value } : last);
    });
  }

  function firstTimeInMonth(times, month) {
    for (var i = 0; i < times.length; i++) if (monthKey(times[i]) === month) return times[i];
    return month;
  }

  function drawRevenue(container, data, toggle) {
    if (!data.revenue_daily.length) { container.classList.add("chart-empty"); container.textContent = "No revenue history."; return; }
    var chart = LightweightCharts.createChart(container, baseOptions());
    var format = { type: "custom", formatter: compactUsd, minMove: 0.01 };
    // Stacking by overlap: the total bar (protocol colour) behind the holders bar.
    var total = chart.addHistogramSeries({ color: COLORS.protocol, priceFormat: format, priceLineVisible: false, lastValueVisible: false });
    var holders = chart.addHistogramSeries({ color: COLORS.holders, priceFormat: format, priceLineVisible: false, lastValueVisible: false });
    var info = readout(container);

    function show(period) {
      var rows = period === "monthly" ? data.revenue_monthly : data.revenue_daily;
      total.setData(rows.map(function (r) { return { time: r.time, value: r.protocol + r.holders }; }));
      holders.setData(rows.map(function (r) { return { time: r.time, value: r.holders }; }));
      var times = rows.map(function (r) { return r.time; });
      var buybacks = period === "daily" && data.buybacks.length <= MAX_DAILY_MARKERS
        ? data.buybacks
        : data.buybacks_monthly.map(function (b) {
            return { time: period === "monthly" ? b.time : firstTimeInMonth(times, b.time), usd: b.usd };
          });
      total.setMarkers(buybackMarkers(buybacks, times, "aboveBar"));
      chart.timeScale().fitContent();
      var byTime = new Map(rows.map(function (r) { return [r.time, r]; }));
      var lastRow = rows[rows.length - 1];
      function describe(row) {
        var label = period === "monthly" ? row.time.slice(0, 7) + (row.days ? " (" + row.days + " d)" : "") : row.time;
        return label + " · protocol " + compactUsd(row.protocol) + " · holders " + compactUsd(row.holders) +
          buybackText(period === "monthly" ? data.buybacks_monthly : data.buybacks, row.time);
      }
      info.textContent = describe(lastRow);
      chart.unsubscribeCrosshairMove(show.handler || function () {});
      show.handler = function (param) {
        var row = param.time && byTime.get(toIso(param.time));
        info.textContent = describe(row || lastRow);
      };
      chart.subscribeCrosshairMove(show.handler);
    }

    show("daily");
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-period]");
        if (!button) return;
        toggle.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
        show(button.dataset.period);
      });
    }
  }

  function toIso(time) {
    if (typeof time === "string") return time;
    if (time && typeof time === "object") {
      return time.year + "-" + String(time.month).padStart(2, "0") + "-" + String(time.day).padStart(2, "0");
    }
    return new Date(time * 1000).toISOString().slice(0, 10);
  }

  function init() {
    var price = document.getElementById("price-chart");
    var revenue = document.getElementById("revenue-chart");
    if (!price || !window.AccrualCharts) return;
    AccrualCharts.load(price, function (data) {
      drawPrice(price, data);
      if (revenue) drawRevenue(revenue, data, revenue.parentNode.querySelector(".toggle"));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
