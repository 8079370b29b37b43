// Token page: the rating panel's grade history, Investor and Trader scores (0–100) as lines
// with the letter bands marked. Data comes from <script type="application/json"
// id="rating-chart-data"> (json_script). The chart library is the page's own when the price
// charts loaded it; otherwise it is loaded here, carrying this script's CSP nonce.
(function () {
  "use strict";

  var NONCE = document.currentScript ? document.currentScript.nonce : "";
  var COLORS = { investor: "#2f5bd3", trader: "#c77700", band: "#b8c0cc", text: "#4a5568", grid: "#eef1f6", border: "#dfe3ea" };

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

  function scoreText(value) { return value.toFixed(1); }

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
      rightPriceScale: { borderColor: COLORS.border, scaleMargins: { top: 0.05, bottom: 0.05 } },
      timeScale: { borderColor: COLORS.border, fixLeftEdge: true, fixRightEdge: true },
      crosshair: { mode: 0 },
      handleScroll: { vertTouchDrag: false },
    });
    var fullRange = function () { return { priceRange: { minValue: 0, maxValue: 100 } }; };
    var format = { type: "custom", formatter: scoreText, minMove: 0.1 };
    var investor = chart.addLineSeries({ color: COLORS.investor, lineWidth: 2, priceFormat: format, priceLineVisible: false, autoscaleInfoProvider: fullRange });
    var trader = chart.addLineSeries({ color: COLORS.trader, lineWidth: 2, priceFormat: format, priceLineVisible: false, autoscaleInfoProvider: fullRange });
    investor.setData(data.investor || []);
    trader.setData(data.trader || []);
    (data.bands || []).forEach(function (band) {
      investor.createPriceLine({ price: band.min, color: COLORS.band, lineWidth: 1, lineStyle: 2, axisLabelVisible: false, title: band.letter });
    });
    chart.timeScale().fitContent();

    var info = document.createElement("div");
    info.className = "chart-readout";
    container.parentNode.insertBefore(info, container);
    var byTime = {};
    (data.investor || []).forEach(function (p) { (byTime[p.time] = byTime[p.time] || {}).investor = p.value; });
    (data.trader || []).forEach(function (p) { (byTime[p.time] = byTime[p.time] || {}).trader = p.value; });
    var times = Object.keys(byTime).sort();
    function describe(time) {
      var row = byTime[time] || {};
      return time + " · Investor " + (row.investor === undefined ? "not rated" : scoreText(row.investor)) +
        " · Trader " + (row.trader === undefined ? "not rated" : scoreText(row.trader));
    }
    var last = times[times.length - 1];
    info.textContent = last ? describe(last) : "";
    chart.subscribeCrosshairMove(function (param) {
      info.textContent = param.time ? describe(toIso(param.time)) : (last ? describe(last) : "");
    });
  }

  function toIso(time) {
    if (typeof time === "string") return time;
    if (time && typeof time === "object") {
      return time.year + "-" + String(time.month).padStart(2, "0") + "-" + String(time.day).padStart(2, "0");
    }
    return new Date(time * 1000).toISOString().slice(0, 10);
  }

  function init() {
    var source = document.getElementById("rating-chart-data");
    var container = document.getElementById("rating-chart");
    if (!source || !container) return;
    var data = JSON.parse(source.textContent);
    if (!(data.investor || []).length && !(data.trader || []).length) return;
    withLibrary(container, function () { draw(container, data); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
