// Writes each time marked data-local in the viewer's own zone, naming the
// zone; the UTC time the server wrote stays in the title, shown on hover.
// The pages read fully without it: then the UTC time is what shows.
(function () {
  "use strict";
  var format;
  function formatter() {
    if (!format) {
      format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "numeric", minute: "2-digit", timeZoneName: "short"
      });
    }
    return format;
  }
  function localise(root) {
    var times = root.querySelectorAll("time[data-local]:not([data-localised])");
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      if (!t.title) t.title = t.textContent;
      t.textContent = formatter().format(d);
      t.setAttribute("data-localised", "");
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
