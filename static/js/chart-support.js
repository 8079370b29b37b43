// Shared by the token, rating and track-record charts: the vendored chart library loaded on
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

  return { withLibrary: withLibrary, whenVisible: whenVisible, load: load, toIso: toIso, readout: readout };
})();
