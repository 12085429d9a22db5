// The signature dialogs of QA's decision on a specification version (OOS-24): a button with data-opens
// shows its dialog, one with data-closes closes it without submitting; a refusal shown inline takes focus.
(function () {
  "use strict";
  document.querySelectorAll("[data-opens]").forEach(function (button) {
    button.addEventListener("click", function () {
      var dialog = document.getElementById(button.getAttribute("data-opens"));
      if (!dialog) { return; }
      dialog.showModal();
      var first = dialog.querySelector("input, textarea");
      if (first) { first.focus(); }
    });
  });
  document.querySelectorAll("[data-closes]").forEach(function (button) {
    button.addEventListener("click", function () {
      var dialog = document.getElementById(button.getAttribute("data-closes"));
      if (dialog) { dialog.close(); }
    });
  });
  var errors = document.getElementById("form-errors");
  if (errors) { errors.focus(); }
})();
