// Token page: the rating panel's grade history, Investor and Trader scores (0–100) as lines
// with the letter bands marked. Data and the chart library are loaded by chart-support.js when
// the chart nears the viewport (the data from the container's data-src).
(function () {
  "use strict";

  var COLORS = { investor: "#2f5bd3", trader: "#c77700", band: "#b8c0cc", text: "#4a5568", grid: "#eef1f6", border: "#dfe3ea" };

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

    var byTime = {};
    (data.investor || []).forEach(function (p) { (byTime[p.time] = byTime[p.time] || {}).investor = p.value; });
    (data.trader || []).forEach(function (p) { (byTime[p.time] = byTime[p.time] || {}).trader = p.value; });
    var times = Object.keys(byTime).sort();
    function describe(time) {
      var row = byTime[time] || {};
      return time + " · Investor " + (row.investor === undefined ? "not rated" : scoreText(row.investor)) +
        " · Trader " + (row.trader === undefined ? "not rated" : scoreText(row.trader));
    }
    AccrualCharts.readout(chart, container, times[times.length - 1], describe);
  }

  function init() {
    var container = document.getElementById("rating-chart");
    if (!container) return;
    AccrualCharts.load(container, function (data) {
      if ((data.investor || []).length || (data.trader || []).length) draw(container, data);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
