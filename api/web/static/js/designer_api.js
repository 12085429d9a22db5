// Calls from the designer pages to the JSON API (/api/v1), as the logged-in user: the session
// cookie authenticates, and every POST carries the page's CSRF token (X-CSRF-Token).
// A refusal becomes an Error whose message is the problem's detail and whose `problem` is the body.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  async function answer(response) {
    var type = response.headers.get("Content-Type") || "";
    var body = type.indexOf("json") >= 0 ? await response.json() : null;
    return { status: response.status, ok: response.ok, body: body };
  }

  function refusal(result) {
    var body = result.body || {};
    var error = new Error(body.detail || body.title || ("HTTP " + result.status));
    error.status = result.status;
    error.problem = body;
    return error;
  }

  window.OosDesignerApi = {
    get: async function (url) {
      var result = await answer(await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }));
      if (!result.ok) { throw refusal(result); }
      return result.body;
    },
    // Resolves with {status, ok, body} for any answer: the caller decides what a 4xx means on its page.
    post: async function (url, body) {
      return answer(await fetch(url, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
      }));
    },
    refusal: refusal,
  };
})();
