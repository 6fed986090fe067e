// Rule catalogue index: client-side text search and facet filters (area, indicator, grade,
// status). Works from disk (static export) and on /rules; without JavaScript every row shows.
// Filters are mirrored in the query string (?q=…&area=…) so a filtered view can be linked.
(function () {
  "use strict";
  var form = document.getElementById("catalog-filters");
  if (!form) { return; }
  var text = document.getElementById("filter-text");
  var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-facet]"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("#catalog-table tbody tr.catalog-row"));
  var count = document.getElementById("catalog-count");
  var empty = document.getElementById("catalog-empty");
  var canSetUrl = window.location.protocol !== "file:" && window.history && window.history.replaceState;

  function apply() {
    var words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = {};
    selects.forEach(function (s) { if (s.value) { wanted[s.dataset.facet] = s.value; } });
    var shown = 0;
    rows.forEach(function (row) {
      var hay = row.dataset.search || "";
      var ok = words.every(function (w) { return hay.indexOf(w) !== -1; });
      Object.keys(wanted).forEach(function (facet) {
        var values = (row.dataset[facet] || "").split(" ");
        if (values.indexOf(wanted[facet]) === -1) { ok = false; }
      });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown === rows.length ? rows.length + " rules" : shown + " of " + rows.length + " rules";
    empty.hidden = shown !== 0;
    if (canSetUrl) {
      var params = new URLSearchParams();
      if (text.value) { params.set("q", text.value); }
      Object.keys(wanted).forEach(function (k) { params.set(k, wanted[k]); });
      var query = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    }
  }

  function fromUrl() {
    var params = new URLSearchParams(window.location.search);
    if (params.get("q")) { text.value = params.get("q"); }
    selects.forEach(function (s) {
      var v = params.get(s.dataset.facet);
      if (v && Array.prototype.some.call(s.options, function (o) { return o.value === v; })) { s.value = v; }
    });
  }

  text.addEventListener("input", apply);
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  fromUrl();
  apply();
}());
