/* Candor quiz embed loader: one tag on a brand's page,
     <script src="{PUBLIC_BASE_URL}/q/embed.js" data-quiz="{public_id}" async></script>
   inserts the quiz in an iframe right after the tag. No dependencies, no cookies, no focus trap:
   Tab moves into the quiz and out of it like any other part of the page.
   - data-contact-token (optional): a quiz token minted through the API links the answers to
     that contact; nothing else does.
   - The host page's utm_* parameters are passed on.
   - The frame grows with the quiz: the quiz page posts its height, and only a message from
     the quiz's own origin and frame is listened to (the page posts only to origins the brand
     listed, which are also the only ones allowed to frame it). */
(function () {
  "use strict";
  var TITLES = { de: "Quiz", fr: "Questionnaire" };
  var UTM = /^utm_(source|medium|campaign|term|content)$/;

  function defaultTitle() {
    var lang = (document.documentElement.lang || "en").slice(0, 2).toLowerCase();
    return TITLES[lang] || "Quiz";
  }

  function embed(script) {
    var id = script.getAttribute("data-quiz") || "";
    if (script.getAttribute("data-candor-embedded") || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      return;
    }
    script.setAttribute("data-candor-embedded", "1");
    var base = new URL(script.src, window.location.href).origin;
    var query = ["host=" + encodeURIComponent(window.location.origin)];
    new URLSearchParams(window.location.search).forEach(function (value, key) {
      if (UTM.test(key)) {
        query.push(key + "=" + encodeURIComponent(value));
      }
    });
    var token = script.getAttribute("data-contact-token");
    if (token) {
      query.push("token=" + encodeURIComponent(token));
    }
    var frame = document.createElement("iframe");
    frame.src = base + "/q/" + id + "/?" + query.join("&");
    frame.title = defaultTitle();
    frame.className = "candor-quiz";
    frame.style.cssText = "display:block;width:100%;min-height:20rem;border:0;";
    script.parentNode.insertBefore(frame, script.nextSibling);

    window.addEventListener("message", function (event) {
      var data = event.data;
      if (event.origin !== base || event.source !== frame.contentWindow || !data) {
        return;
      }
      if (data.type === "candor:quiz-height" && data.height > 0 && data.height < 100000) {
        frame.style.height = Math.ceil(data.height) + "px";
      }
      if (typeof data.title === "string" && data.title) {
        frame.title = data.title.slice(0, 200);
      }
    });
  }

  var current = document.currentScript;
  if (current && current.hasAttribute("data-quiz")) {
    embed(current);
  } else {
    var scripts = document.querySelectorAll("script[data-quiz]");
    for (var i = 0; i < scripts.length; i++) {
      embed(scripts[i]);
    }
  }
})();
