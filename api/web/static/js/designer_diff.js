// A version beside the previous one (issue 11; change control, OOS-24): both diagrams in read-only
// viewers, elements added / removed / changed / moved marked by bpmn-js-differ and listed in words
// in the change table; for a version awaiting approval, QA's signed approval or rejection through
// the API. `data-compared` on #diff tells tests the marking is done.
(function () {
  "use strict";
  var KINDS = [
    ["_removed", "removed", "diff-removed"], ["_added", "added", "diff-added"],
    ["_changed", "changed", "diff-changed"], ["_layoutChanged", "moved only", "diff-layout"],
  ];
  var diffBox = document.getElementById("diff");
  if (diffBox && window.OosBpmn && window.OosDesignerApi) { compare(); }
  decisionDialog();

  async function viewerOf(elementId, url, filename) {
    var version = await window.OosDesignerApi.get(url);
    var file = version.files.filter(function (f) { return f.filename === filename; })[0];
    if (!file) { throw new Error("the version has no file " + filename); }
    var viewer = new window.OosBpmn.NavigatedViewer({ container: document.getElementById(elementId) });
    await viewer.importXML(file.content);
    viewer.get("canvas").zoom("fit-viewport");
    return viewer;
  }

  function mark(viewer, id, marker) {
    if (viewer && viewer.get("elementRegistry").get(id)) { viewer.get("canvas").addMarker(id, marker); }
  }

  function shown(value) {
    if (value === undefined || value === null || value === "") { return "(none)"; }
    return typeof value === "object" ? "(structure)" : "“" + String(value) + "”";
  }

  // bpmn-js-differ 3.2 hands jsondiffpatch's [old, new] to its handler as (newValue, oldValue); its
  // `model` is the new version's element, so the value the model holds tells which one is new.
  function beforeAfter(model, attr, values) {
    var now = model[attr];
    if (now !== undefined && now === values.oldValue && now !== values.newValue) {
      return [values.newValue, values.oldValue];
    }
    return [values.oldValue, values.newValue];
  }

  function details(kind, change) {
    if (kind !== "_changed" || !change.attrs) { return ""; }
    return Object.keys(change.attrs).map(function (attr) {
      var values = beforeAfter(change.model || {}, attr, change.attrs[attr]);
      return attr + ": " + shown(values[0]) + " → " + shown(values[1]);
    }).join("; ");
  }

  // Zoom to 100 % (if further out) and put the element in the middle of the view.
  function centre(canvas, element) {
    if (canvas.zoom() < 1) { canvas.zoom(1); }
    var view = canvas.viewbox();
    canvas.viewbox({ x: element.x + element.width / 2 - view.width / 2, y: element.y + element.height / 2 - view.height / 2,
                     width: view.width, height: view.height });
  }

  function focusOn(viewers, id) {
    viewers.forEach(function (viewer) {
      var element = viewer && viewer.get("elementRegistry").get(id);
      if (!element) { return; }
      centre(viewer.get("canvas"), element);
    });
  }

  function row(kindLabel, model, detail, viewers) {
    var label = model.name ? model.name.replace(/\s+/g, " ") + " (" + model.id + ")" : model.id;
    var tr = document.createElement("tr");
    tr.setAttribute("data-element-id", model.id);
    tr.setAttribute("data-change", kindLabel);
    var kind = document.createElement("td");
    kind.className = "change-kind";
    kind.textContent = kindLabel;
    var name = document.createElement("th");
    name.setAttribute("scope", "row");
    var drawn = viewers.some(function (v) { return v && v.get("elementRegistry").get(model.id); });
    if (drawn) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-like";
      button.textContent = label;
      button.title = "Show it on the diagrams";
      button.addEventListener("click", function () { focusOn(viewers, model.id); });
      name.appendChild(button);
    } else {
      name.textContent = label;
    }
    var type = document.createElement("td");
    type.textContent = String(model.$type || "").replace(/^bpmn:/, "");
    var details = document.createElement("td");
    details.textContent = detail;
    [kind, name, type, details].forEach(function (cell) { tr.appendChild(cell); });
    return tr;
  }

  function listChanges(changes, previous, current) {
    var body = document.querySelector("#changes tbody");
    var counts = [];
    KINDS.forEach(function (kind) {
      var entries = changes[kind[0]] || {};
      var ids = Object.keys(entries).sort();
      if (ids.length) { counts.push(ids.length + " " + kind[1]); }
      ids.forEach(function (id) {
        var change = entries[id];
        var model = change.model || change;
        if (kind[0] !== "_added") { mark(previous, id, kind[2]); }
        if (kind[0] !== "_removed") { mark(current, id, kind[2]); }
        body.appendChild(row(kind[1], model, details(kind[0], change), [previous, current]));
      });
    });
    document.getElementById("changes").hidden = !counts.length;
    return counts.length ? "Changes: " + counts.join(", ") + "." : "No change in this process's diagram.";
  }

  async function compare() {
    var summary = document.getElementById("diff-summary");
    try {
      var current = await viewerOf("diff-current", diffBox.getAttribute("data-current-url"),
                                   diffBox.getAttribute("data-current-file"));
      if (diffBox.hasAttribute("data-previous-url")) {
        var previous = await viewerOf("diff-previous", diffBox.getAttribute("data-previous-url"),
                                      diffBox.getAttribute("data-previous-file"));
        var changes = window.OosBpmn.diff(previous.getDefinitions(), current.getDefinitions());
        summary.textContent = listChanges(changes, previous, current);
      }
      diffBox.setAttribute("data-compared", "true");
    } catch (error) {
      summary.textContent = "The versions could not be compared: " + error.message;
      summary.className = "alert error";
    }
  }

  // ---- QA's signed decision (OOS-24): approval, or rejection with a reason
  function decisionDialog() {
    var dialog = document.getElementById("decision-dialog");
    if (!dialog) { return; }
    var form = document.getElementById("decision-form");
    var error = document.getElementById("decision-error");
    var decision = "approval";
    var statements = {
      approval: "I approve this process definition version: from now on new instances start on it.",
      rejection: "I reject this process definition version: it must not run.",
    };
    ["open-approval", "open-rejection"].forEach(function (id) {
      document.getElementById(id).addEventListener("click", function (event) {
        decision = event.currentTarget.getAttribute("data-decision");
        document.getElementById("decision-statement").textContent = "By signing you confirm: " + statements[decision];
        document.getElementById("reason-field").hidden = decision !== "rejection";
        document.getElementById("decision-submit").textContent = decision === "approval" ? "Sign and approve"
          : "Sign and reject";
        error.hidden = true;
        dialog.showModal();
        form.querySelector(decision === "rejection" ? "textarea" : "input").focus();
      });
    });
    document.getElementById("decision-cancel").addEventListener("click", function () { dialog.close(); });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var signature = { password: form.elements.password.value };
      if (form.elements.username && form.elements.username.value) { signature.username = form.elements.username.value; }
      var body = { signature: signature };
      if (decision === "rejection") { body.reason = form.elements.reason.value; }
      var result = await window.OosDesignerApi.post(form.getAttribute("data-" + decision + "-url"), body);
      if (result.ok) {
        window.location.reload();
        return;
      }
      error.textContent = window.OosDesignerApi.refusal(result).message;
      error.hidden = false;
      error.setAttribute("tabindex", "-1");
      error.focus();
    });
  }
})();
