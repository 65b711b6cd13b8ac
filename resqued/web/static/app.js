// resqued dashboard: live refresh of <main> without a page reload, and confirmations.
// A page with data-refresh="0" (one failed job, a confirmation) is never refreshed; a
// refresh waits while text in <main> is selected, as it waits while you type.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  var stamp = document.getElementById("stamp");
  var given = parseInt(document.body.getAttribute("data-refresh"), 10);
  var every = (isNaN(given) ? 2 : given) * 1000;
  var busy = false;
  var etag = null;  // of the <main> shown, so an unchanged refresh is a 304 without a body
  var etagUrl = null;

  if (live) {
    live.checked = window.localStorage.getItem("resqued-live") !== "off";
    live.addEventListener("change", function () {
      window.localStorage.setItem("resqued-live", live.checked ? "on" : "off");
    });
  }

  function typing() {
    var el = document.activeElement;
    return el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  function selecting() {
    var sel = window.getSelection ? window.getSelection() : null;
    if (!sel || sel.isCollapsed || !sel.rangeCount) { return false; }
    return main.contains(sel.anchorNode) || main.contains(sel.focusNode);
  }

  function openDetails() {
    return Array.prototype.map.call(main.querySelectorAll("details[open][id]"), function (d) {
      return d.id;
    });
  }

  function show(html) {
    var open = openDetails();
    main.innerHTML = html;
    open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) { d.open = true; }
    });
    if (stamp) { stamp.textContent = "updated " + new Date().toLocaleTimeString(); }
  }

  function refresh() {
    if (!main || !live || busy || document.hidden || !live.checked || typing()) { return; }
    if (selecting()) {
      if (stamp) { stamp.textContent = "paused while text is selected"; }
      return;
    }
    busy = true;
    var headers = { "X-Partial": "1", "Accept": "text/html" };
    var url = window.location.pathname + window.location.search;
    if (etag && etagUrl === url) { headers["If-None-Match"] = etag; }
    window.fetch(url, {
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual"
    }).then(function (response) {
      if (response.type === "opaqueredirect" || response.status === 401) {
        window.location.reload();  // the session ended: show the login page
        return null;
      }
      if (response.status === 304) {  // nothing changed: keep what is shown
        if (stamp) { stamp.textContent = "updated " + new Date().toLocaleTimeString(); }
        return null;
      }
      etag = response.headers.get("ETag");
      etagUrl = url;
      return response.text();
    }).then(function (html) {
      if (html !== null) { show(html); }
    }).catch(function () {
      if (stamp) { stamp.textContent = "update failed; retrying"; }
    }).then(function () {
      busy = false;
    });
  }

  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  if (every > 0) { window.setInterval(refresh, every); }
}());
