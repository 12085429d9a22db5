// The case page's live diagram (issue 11; OOS-13, OOS-24): the case's BPMN in the read-only
// NavigatedViewer, marked from GET <data-state-url> — completed elements (oos-completed), active
// tokens (oos-active), waiting timers (oos-waiting, with an overlay giving the due time in UTC).
// The same state is written as text beside the diagram, since screen readers cannot read the SVG.
// Polls every 3 s and re-marks when `version` changes; `data-marked-version` on the container
// tells tests (and anyone watching) which marking is shown.
(function () {
  "use strict";
  var POLL_MS = 3000;
  var container = document.getElementById("diagram");
  if (!container || !window.OosBpmn) { return; }
  var stateUrl = container.getAttribute("data-state-url");
  var viewer = new window.OosBpmn.NavigatedViewer({ container: container });
  var shown = { xml: null, version: null, marks: [] };
  var text = textState();
  ensureLegend();

  function ensureLegend() {
    var legend = container.parentNode.querySelector(".diagram-legend");
    if (legend) { return; }
    legend = document.createElement("div");
    legend.className = "diagram-legend";
    legend.setAttribute("aria-hidden", "true");  // the text list below says the same in words
    [["completed", "completed"], ["active", "active (open task or work)"],
     ["waiting", "waiting timer, with its due time"]].forEach(function (entry) {
      var item = document.createElement("span");
      var swatch = document.createElement("span");
      swatch.className = "swatch " + entry[0];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(entry[1]));
      legend.appendChild(item);
    });
    container.parentNode.insertBefore(legend, container);
  }

  function textState() {
    var element = document.getElementById("diagram-state");
    if (!element) {
      element = document.createElement("div");
      element.id = "diagram-state";
      element.setAttribute("aria-live", "polite");
      container.parentNode.insertBefore(element, container.nextSibling);
    }
    element.classList.add("diagram-state");
    return element;
  }

  function utc(iso) {
    var date = new Date(iso);
    return isNaN(date) ? String(iso) : date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function nameOf(id) {
    var element = viewer.get("elementRegistry").get(id);
    var name = element && element.businessObject && element.businessObject.name;
    return name ? name.replace(/\s+/g, " ") : id;
  }

  function unmark() {
    var canvas = viewer.get("canvas");
    shown.marks.forEach(function (mark) { canvas.removeMarker(mark[0], mark[1]); });
    shown.marks = [];
    viewer.get("overlays").remove({ type: "oos-timer" });
  }

  function mark(id, marker) {
    if (!viewer.get("elementRegistry").get(id)) { return false; }
    viewer.get("canvas").addMarker(id, marker);
    shown.marks.push([id, marker]);
    return true;
  }

  function timerLabel(timer) {
    return "due " + utc(timer.due_at) + (timer.overdue ? " · overdue" : timer.escalated ? " · escalated" : "");
  }

  function markState(state) {
    unmark();
    (state.completed || []).forEach(function (id) { mark(id, "oos-completed"); });
    (state.active || []).forEach(function (id) { mark(id, "oos-active"); });
    (state.timers || []).forEach(function (timer, index) {
      if (!mark(timer.element_id, "oos-waiting")) { return; }
      var overlay = document.createElement("div");
      overlay.className = "timer-overlay" + (timer.overdue ? " overdue" : "");
      overlay.textContent = nameOf(timer.element_id) + ": " + timerLabel(timer);
      overlay.style.marginTop = (22 * index) + "px";  // stacked when several timers wait on one task
      viewer.get("overlays").add(timer.element_id, "oos-timer", {
        position: { bottom: -4, left: -24 }, html: overlay, scale: { min: 1 },  // never smaller than legible
      });
    });
  }

  function section(title, items) {
    var wrapper = document.createElement("div");
    var heading = document.createElement("h3");
    heading.textContent = title + " (" + items.length + ")";
    wrapper.appendChild(heading);
    if (!items.length) {
      var none = document.createElement("p");
      none.className = "empty";
      none.textContent = "None.";
      wrapper.appendChild(none);
      return wrapper;
    }
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var entry = document.createElement("li");
      entry.textContent = item;
      list.appendChild(entry);
    });
    wrapper.appendChild(list);
    return wrapper;
  }

  function writeText(state) {
    text.textContent = "";
    text.appendChild(section("Active", (state.active || []).map(nameOf)));
    text.appendChild(section("Waiting timers", (state.timers || []).map(function (timer) {
      return nameOf(timer.element_id) + ": " + timerLabel(timer);
    })));
    text.appendChild(section("Completed", (state.completed || []).map(nameOf)));
  }

  function say(message) {
    text.textContent = "";
    var paragraph = document.createElement("p");
    paragraph.className = "empty";
    paragraph.textContent = message;
    text.appendChild(paragraph);
  }

  async function show(state) {
    if (state.version === shown.version) { return; }
    if (!state.bpmn) {
      say("No diagram yet: the case has no process instance.");
    } else {
      if (state.bpmn !== shown.xml) {
        await viewer.importXML(state.bpmn);
        shown.xml = state.bpmn;
        shown.marks = [];
        viewer.get("canvas").zoom("fit-viewport");
      }
      markState(state);
      writeText(state);
    }
    shown.version = state.version;
    container.setAttribute("data-marked-version", state.version);
  }

  async function poll() {
    try {
      var response = await fetch(stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      await show(await response.json());
      container.removeAttribute("aria-busy");
    } catch (error) {
      if (shown.version === null) { say("The diagram could not be loaded (" + error.message + "); retrying."); }
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  container.setAttribute("aria-busy", "true");
  poll();
})();
