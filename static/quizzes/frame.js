/* The quiz page inside a brand's iframe (/q/embed.js): tells the embedding page how tall the
   quiz is, so the frame grows with it and never scrolls inside. It posts only to the origin the
   server checked against the brand's embed origins (body[data-host-origin]); alone, in its
   own tab, it does nothing. */
(function () {
  "use strict";
  var host = document.body && document.body.getAttribute("data-host-origin");
  if (!host || window.parent === window) {
    return;
  }
  var last = 0;
  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage(
        { type: "candor:quiz-height", height: height, title: document.body.getAttribute("data-quiz-title") || "" },
        host
      );
    }
  }
  if (window.ResizeObserver) {
    new ResizeObserver(report).observe(document.documentElement);
  }
  window.addEventListener("load", report);
  report();
})();
