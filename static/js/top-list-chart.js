// A Top 10 list's record: the list's equal-weighted value since publication against all
// rated tokens (dashed), as a change from the first day (AccrualCharts.changeChart). Data comes
// from <script type="application/json" id="top-list-chart-data"> (json_script); the chart
// library is loaded by chart-support.js, carrying this script's CSP nonce.
(function () {
  "use strict";

  var OPTIONS = {
    colors: { list: "#2f5bd3", universe: "#16202e", text: "#4a5568", grid: "#eef1f6", border: "#dfe3ea", zero: "#b8c0cc" },
    label: function (key) { return { list: "This list", universe: "All rated" }[key] || key; },
    dashed: "universe",
    width: function (key) { return key === "universe" ? 2 : 3; },
  };

  function init() {
    var source = document.getElementById("top-list-chart-data");
    var container = document.getElementById("top-list-chart");
    if (!source || !container) return;
    var data = JSON.parse(source.textContent);
    if (!(data.lines || []).length) return;
    AccrualCharts.whenVisible(container, function () {
      AccrualCharts.withLibrary(container, function () { AccrualCharts.changeChart(container, data, OPTIONS); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
