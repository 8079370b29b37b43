// Track record: each Investor band's cumulative return, month-end to month-end, against all
// rated tokens (dashed), drawn by AccrualCharts.changeChart. Data comes from <script
// type="application/json" id="track-record-chart-data"> (json_script); the chart library is
// loaded by chart-support.js, carrying this script's CSP nonce. The same figures are in the
// table under the chart.
(function () {
  "use strict";

  var OPTIONS = {
    colors: {
      A: "#0d7a4a", B: "#6f9a1f", C: "#7d8797", D: "#c77700", E: "#c0392b", all: "#16202e",
      text: "#4a5568", grid: "#eef1f6", border: "#dfe3ea", zero: "#b8c0cc",
    },
    label: function (key) { return key === "all" ? "All rated" : key; },
    dashed: "all",
    width: function (key) { return key === "all" ? 3 : 2; },
  };

  function init() {
    var source = document.getElementById("track-record-chart-data");
    var container = document.getElementById("track-record-chart");
    if (!source || !container) return;
    var data = JSON.parse(source.textContent);
    if (!(data.lines || []).length) return;
    AccrualCharts.withLibrary(container, function () { AccrualCharts.changeChart(container, data, OPTIONS); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
