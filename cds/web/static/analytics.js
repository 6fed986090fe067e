/* The /analytics page: quick period buttons (the figures and the chart are drawn by the server). */
(function () {
  "use strict";
  var form = document.getElementById("an-form");
  if (!form) { return; }
  var from = document.getElementById("an-from");
  var to = document.getElementById("an-to");

  function iso(day) { return day.toISOString().slice(0, 10); }

  form.querySelectorAll("button[data-days]").forEach(function (button) {
    button.addEventListener("click", function () {
      var end = to.value ? new Date(to.value + "T00:00:00Z") : new Date();
      var start = new Date(end.getTime() - (Number(button.dataset.days) - 1) * 86400000);
      to.value = iso(end);
      from.value = iso(start);
      form.submit();
    });
  });

  form.addEventListener("submit", function (event) {
    if (from.value && to.value && from.value > to.value) {
      event.preventDefault();
      to.setCustomValidity("'To' must not be before 'From'.");
      to.reportValidity();
      to.setCustomValidity("");
    }
  });
})();
