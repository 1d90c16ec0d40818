// Adds the viewer's own time beside each UTC time marked data-local. The
// pages read fully without it: the UTC time is always there.
(function () {
  "use strict";
  function localise(root) {
    var times = root.querySelectorAll("time[data-local]:not([data-localised])");
    var lang = document.documentElement.lang || undefined;
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      var local = d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
      var span = document.createElement("span");
      span.className = "local-time";
      span.textContent = local;
      t.setAttribute("data-localised", "");
      t.after(span);
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
