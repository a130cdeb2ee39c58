/* Candor hosted pages: optional progressive enhancement. Every page works without it.
   On load, and on "candor:shown" (a page drawn in place by a page's own script):
   - Moves focus to the error summary when a form comes back with errors.
   - Re-inserts a "Saved" message into its live region after load, so screen readers that
     ignore content present at load still announce it. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  // On load, and when a page's script draws another page in place (the quiz's step.js sends
  // "candor:shown").
  function enhance() {
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
      return;
    }
    var status = document.getElementById("status");
    if (status && status.textContent.trim()) {
      var html = status.innerHTML;
      status.innerHTML = "";
      window.setTimeout(function () {
        status.innerHTML = html;
      }, 250);
    }
  }

  ready(enhance);
  document.addEventListener("candor:shown", enhance);
})();
