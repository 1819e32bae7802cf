// Progressive enhancement only: the console works without it.
// 1. Countdowns tick every second from their deadline. 2. The queue refreshes every 30 s while
// the tab is visible (no polling in background tabs). 3. Forms send the browser's UTC offset so
// an ETA typed in local time is stored right.
(function () {
  "use strict";
  function fmt(ms) {
    var s = Math.round(ms / 1000), sign = s < 0 ? "-" : "";
    s = Math.abs(s);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return sign + d + " d " + h + " h";
    if (h) return sign + h + " h " + (m < 10 ? "0" : "") + m + " min";
    return sign + m + " min";
  }
  function tick() {
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = new Date(el.getAttribute("data-deadline")) - new Date();
      el.textContent = fmt(left);
      if (left < 0) el.classList.add("late");
    });
  }
  document.querySelectorAll("input.tz").forEach(function (el) {
    el.value = String(new Date().getTimezoneOffset());
  });
  setInterval(tick, 1000);
  var box = document.getElementById("queue");
  if (box) {
    var every = (parseInt(box.getAttribute("data-refresh"), 10) || 30) * 1000;
    setInterval(function () {
      if (document.visibilityState !== "visible") return;
      fetch(location.href, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue");
          if (fresh) { box.innerHTML = fresh.innerHTML; tick(); }
        })
        .catch(function () { /* next round */ });
    }, every);
  }
})();
