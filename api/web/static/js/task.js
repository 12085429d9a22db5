// The signature dialog of a signed task (OOS-24): the form's answers and the re-entered password
// are submitted together; Escape or Cancel closes the dialog without submitting.
(function () {
  "use strict";
  var open = document.getElementById("open-signature");
  var dialog = document.getElementById("sign-dialog");
  if (open && dialog) {
    open.addEventListener("click", function () {
      dialog.showModal();
      var first = dialog.querySelector("input");
      if (first) { first.focus(); }
    });
    document.getElementById("sign-cancel").addEventListener("click", function () { dialog.close(); });
  }
  var errors = document.getElementById("form-errors");
  if (errors) { errors.focus(); }
})();
