// Kiln dashboard: the little JavaScript the pages use beyond htmx. Every
// page works without it.
"use strict";

// Forms (or buttons) with data-confirm ask before they submit.
document.addEventListener("submit", function (ev) {
  var msg = (ev.submitter && ev.submitter.dataset.confirm) || ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});

// A checkbox with data-select-all="NAME" checks or clears every checkbox
// named NAME in its form.
document.addEventListener("change", function (ev) {
  var name = ev.target.dataset && ev.target.dataset.selectAll;
  if (!name || !ev.target.form) {
    return;
  }
  ev.target.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
    box.checked = ev.target.checked;
  });
});
