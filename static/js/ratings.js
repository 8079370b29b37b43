// Keep the ratings leaderboard's pushed URLs short: leave empty filters out of the query string.
document.addEventListener("htmx:configRequest", function (event) {
  if (!event.detail.elt || event.detail.elt.id !== "ratings-form") return;
  var data = event.detail.formData;
  if (!data) return;
  Array.from(data.keys()).forEach(function (key) {
    if (data.getAll(key).every(function (value) { return value === ""; })) data.delete(key);
  });
});
