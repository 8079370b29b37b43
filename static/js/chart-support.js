// Shared by the rating and track-record charts: the vendored chart library loaded on demand
// (carrying this script's CSP nonce), a chart time as an ISO date, and the readout line above
// a chart that follows the crosshair and otherwise shows the last point.
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

  return { withLibrary: withLibrary, toIso: toIso, readout: readout };
})();
