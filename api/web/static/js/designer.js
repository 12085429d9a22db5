// The designer's modeler page (issue 11; OOS-08, OOS-24, OOS-25): a version's BPMN in the bpmn-js
// Modeler with bpmnlint's recommended rules live, "Validate" (the engine's deploy checks through
// POST /api/v1/process-definitions/validation, each problem shown on its element and in the list)
// and "Deploy as new version" (POST /api/v1/process-definitions with the edited BPMN and the
// version's other files unchanged). State for tests: data-loaded on #modeler, data-validated
// (a counter) on #validation-problems, data-linted on #lint-issues.
(function () {
  "use strict";
  var container = document.getElementById("modeler");
  if (!container || !window.OosBpmnModeler || !window.OosDesignerApi) { return; }
  var api = window.OosDesignerApi;
  var bpmn = window.OosBpmnModeler;
  var filename = container.getAttribute("data-filename");
  var status = document.getElementById("designer-status");
  var validationList = document.getElementById("validation-problems");
  var validationSummary = document.getElementById("validation-summary");
  var lintList = document.getElementById("lint-issues");
  var lintSummary = document.getElementById("lint-summary");
  var modeler = new bpmn.Modeler({
    container: container,
    linting: { bpmnlint: bpmn.lintConfig, active: true },
    additionalModules: [bpmn.lintModule],
  });
  var bundle = null;  // the version's files: name -> content
  var validations = 0;
  var busy = false;

  function say(message, kind) {
    status.className = "designer-status" + (kind ? " alert " + kind : "");
    status.textContent = message;
  }

  function nameOf(id) {
    var element = id && modeler.get("elementRegistry").get(id);
    var name = element && element.businessObject && element.businessObject.name;
    return name ? name.replace(/\s+/g, " ") + " (" + id + ")" : id;
  }

  // Zoom to 100 % (if further out) and put the element in the middle of the view.
  function centre(canvas, element) {
    if (canvas.zoom() < 1) { canvas.zoom(1); }
    var view = canvas.viewbox();
    canvas.viewbox({ x: element.x + element.width / 2 - view.width / 2, y: element.y + element.height / 2 - view.height / 2,
                     width: view.width, height: view.height });
  }

  function showElement(id) {
    var element = modeler.get("elementRegistry").get(id);
    if (!element) { return; }
    centre(modeler.get("canvas"), element);
    modeler.get("selection").select(element);
    container.querySelector("svg").focus();
  }

  function problemItem(id, text, details) {
    var item = document.createElement("li");
    if (id) { item.setAttribute("data-element-id", id); }
    var inDiagram = id && modeler.get("elementRegistry").get(id);
    if (inDiagram) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-like";
      button.textContent = nameOf(id);
      button.addEventListener("click", function () { showElement(id); });
      item.appendChild(button);
    } else {
      var label = document.createElement("strong");
      label.textContent = id ? id + " (not in the diagram)" : "The bundle";
      item.appendChild(label);
    }
    item.appendChild(document.createTextNode(": " + text));
    if (details) {
      var hint = document.createElement("span");
      hint.className = "hint";
      hint.textContent = details;
      item.appendChild(hint);
    }
    return item;
  }

  // ---- live lint (bpmn-js-bpmnlint marks the elements; this list says it in words)
  modeler.on("linting.completed", function (event) {
    lintList.textContent = "";
    var count = 0;
    Object.keys(event.issues).sort().forEach(function (id) {
      event.issues[id].forEach(function (issue) {
        count += 1;
        var severity = issue.category === "warn" ? "warning" : issue.category;
        lintList.appendChild(problemItem(id, severity + ": " + issue.message, "rule " + issue.rule));
      });
    });
    lintSummary.textContent = count ? count + " lint finding(s); the diagram marks each on its element."
      : "No lint finding.";
    lintList.setAttribute("data-linted", String(Date.now()));
  });

  // ---- the engine's checks, shown on the elements they name
  function clearProblems() {
    var canvas = modeler.get("canvas");
    modeler.get("elementRegistry").forEach(function (element) { canvas.removeMarker(element, "oos-problem"); });
    modeler.get("overlays").remove({ type: "oos-problem" });
    validationList.textContent = "";
  }

  function markProblem(problem) {
    var element = problem.element_id && modeler.get("elementRegistry").get(problem.element_id);
    if (!element || (problem.file && problem.file !== filename)) { return; }
    modeler.get("canvas").addMarker(element, "oos-problem");
    var overlay = document.createElement("div");
    overlay.className = "problem-overlay";
    overlay.textContent = "⚠ " + (problem.requirement || "problem");
    overlay.title = problem.reason;
    modeler.get("overlays").add(element, "oos-problem", { position: { top: -24, left: 0 }, html: overlay });
  }

  function showProblems(problems) {
    clearProblems();
    problems.forEach(function (problem) {
      markProblem(problem);
      var where = problem.file + (problem.line ? ", line " + problem.line : "");
      validationList.appendChild(problemItem(problem.element_id, problem.reason, where));
    });
    validations += 1;
    validationList.setAttribute("data-validated", String(validations));
  }

  async function editedFiles() {
    var saved = await modeler.saveXML({ format: true });
    var files = Object.assign({}, bundle);
    files[filename] = saved.xml;
    return files;
  }

  async function validate() {
    var result = await api.post("/api/v1/process-definitions/validation", { files: await editedFiles() });
    if (!result.ok) { throw api.refusal(result); }
    showProblems(result.body.problems);
    var count = result.body.problems.length;
    validationSummary.textContent = result.body.valid ? "Valid: deploy would accept this diagram."
      : count + " problem(s): deploy would refuse this diagram until they are fixed.";
    say(validationSummary.textContent, result.body.valid ? "ok" : "error");
  }

  function listDeployed(items) {
    var list = document.getElementById("deployed-versions");
    list.textContent = "";
    items.forEach(function (item) {
      var entry = document.createElement("li");
      entry.setAttribute("data-key", item.key);
      entry.setAttribute("data-version", String(item.version));
      var link = document.createElement("a");
      link.href = "/ui/designer/" + encodeURIComponent(item.key) + "/" + item.version + "/diff";
      link.textContent = item.key + " version " + item.version;
      entry.appendChild(link);
      entry.appendChild(document.createTextNode(item.created
        ? ": new version, " + item.status.replace(/_/g, " ") + " (see its changes)"
        : ": unchanged, identical content is already this version"));
      list.appendChild(entry);
    });
    var section = document.getElementById("deployed");
    section.hidden = false;
    document.getElementById("deployed-h").focus();
  }

  async function deploy() {
    var result = await api.post("/api/v1/process-definitions", { files: await editedFiles() });
    if (result.status === 422 && result.body && result.body.problems) {
      showProblems(result.body.problems);
      validationSummary.textContent = result.body.problems.length + " problem(s): deploy refused; nothing was stored.";
      say(validationSummary.textContent, "error");
      return;
    }
    if (!result.ok) { throw api.refusal(result); }
    var created = result.body.items.filter(function (item) { return item.created; });
    say(created.length ? "Deployed: the new version awaits QA approval and starts nothing until approved."
      : "Nothing deployed: this content is already the latest version.", "ok");
    listDeployed(result.body.items);
  }

  function action(button, run, doing) {
    if (!button) { return; }
    button.addEventListener("click", async function () {
      if (busy) { return; }
      busy = true;
      button.setAttribute("aria-disabled", "true");
      say(doing + "…");
      try {
        await run();
      } catch (error) {
        say(error.message, "error");
      } finally {
        busy = false;
        button.removeAttribute("aria-disabled");
      }
    });
  }

  modeler.on("commandStack.changed", function () {
    if (validations) { validationSummary.textContent = "The diagram changed since the last validation: validate again."; }
  });

  async function load() {
    try {
      var version = await api.get(container.getAttribute("data-definition-url"));
      bundle = {};
      version.files.forEach(function (file) { bundle[file.filename] = file.content; });
      await modeler.importXML(bundle[filename]);
      modeler.get("canvas").zoom("fit-viewport");
      container.setAttribute("data-loaded", "true");
    } catch (error) {
      say("The diagram could not be loaded: " + error.message, "error");
    }
  }

  action(document.getElementById("validate"), validate, "Validating");
  action(document.getElementById("deploy"), deploy, "Deploying");
  load();
})();
