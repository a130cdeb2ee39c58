/* The quiz page, one request per step. Without this script every step is a POST and a redirect
   to the next page (two requests); with it the form goes by fetch with "Candor-Quiz-Step: 1",
   and the server answers with the page the redirect would have named (the next question, the
   outcome, or this question again with its errors or "Saved"). That page's main content
   replaces this one's, its address (the Candor-Quiz-Page header) goes into the browser's
   history, so Back and reload work as without JavaScript, and focus moves to the new heading
   (or, through candor.js, to the error summary). Where something is missing or fails, the form
   is sent the ordinary way. */
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.URLSearchParams || !window.history.pushState) {
    return;
  }
  var busy = false;
  var ordinary = false; // the next submit goes the ordinary way (after a failure)

  function main() {
    return document.getElementById("main");
  }

  function snapshot() {
    return { candorQuiz: true, title: document.title, main: main().innerHTML };
  }

  function show(page) {
    document.title = page.title;
    main().innerHTML = page.main;
    window.scrollTo(0, 0);
    if (!document.getElementById("error-summary")) {
      var heading = main().querySelector("h1") || main();
      if (!heading.hasAttribute("tabindex")) {
        heading.setAttribute("tabindex", "-1");
      }
      heading.focus();
    }
    // candor.js does the rest as on a page load: focus to the error summary, "Saved" announced.
    document.dispatchEvent(new Event("candor:shown"));
  }

  function sendOrdinarily(form, submitter) {
    ordinary = true;
    busy = false;
    if (form.requestSubmit) {
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    } else {
      form.submit();
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("quiz__form")) {
      return;
    }
    if (ordinary) {
      ordinary = false;
      return;
    }
    event.preventDefault();
    if (busy) {
      return; // one step at a time: a second press waits for the first
    }
    busy = true;
    var submitter = event.submitter;
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    window
      // Not form.action: the form's buttons are named "action", and a named control shadows it.
      .fetch(form.getAttribute("action") || window.location.href, {
        method: "POST",
        body: new URLSearchParams(data),
        headers: { "Candor-Quiz-Step": "1" },
        credentials: "same-origin",
      })
      .then(function (response) {
        // The quiz page's own answers: a page, its errors (422), an expired state (400), a
        // form from elsewhere (403). Anything else (a quiz archived meanwhile, a server error)
        // is shown as a whole page by the ordinary submit, which changed nothing either time.
        var type = response.headers.get("Content-Type") || "";
        var expected = response.ok || [400, 403, 422].indexOf(response.status) !== -1;
        if (!expected || type.indexOf("text/html") !== 0) {
          throw new Error("not a quiz page");
        }
        var address = response.headers.get("Candor-Quiz-Page") || (response.redirected ? response.url : null);
        return response.text().then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var next = page.getElementById("main");
          if (!next) {
            throw new Error("not a quiz page");
          }
          var shown = { candorQuiz: true, title: page.title, main: next.innerHTML };
          if (address) {
            window.history.replaceState(snapshot(), "");
            window.history.pushState(shown, "", address);
          }
          show(shown);
          busy = false;
        });
      })
      .catch(function () {
        sendOrdinarily(form, submitter);
      });
  });

  window.addEventListener("popstate", function (event) {
    if (event.state && event.state.candorQuiz) {
      show(event.state);
    } else {
      window.location.reload();
    }
  });
})();
