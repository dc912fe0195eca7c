// The OAuth accounts page: connecting an account (new-tab sign-in or device code, status polls,
// the pasted redirect URL, cancel) and importing an auth file, through /api/oauth. Does nothing
// on other pages.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_POLL_MS = 15 * 60 * 1000;
  var login = null; // {state, timer, started}

  function $(sel) { return document.querySelector(sel); }

  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var err = (data && data.error) || {};
          throw new Error(err.message || ("HTTP " + resp.status));
        }
        return data && data.data !== undefined ? data.data : data;
      });
    });
  }

  function panel() { return $("#oauth-login"); }
  function part(name) { return panel().querySelector("[data-login-" + name + "]"); }
  function say(text) { part("status").textContent = text; }

  function stopPolling() {
    if (login && login.timer) window.clearTimeout(login.timer);
  }

  function finish(text) {
    stopPolling();
    login = null;
    say(text);
    part("paste").hidden = true;
    part("cancel").hidden = true;
  }

  function start(provider, label) {
    stopPolling();
    var box = panel();
    box.hidden = false;
    part("title").textContent = "Signing in: " + label;
    part("link").hidden = true;
    part("device").hidden = true;
    part("paste").hidden = true;
    part("cancel").hidden = false;
    say("Asking the proxy for a sign-in link…");
    // Opened now, inside the click: a tab opened after the answer arrives is a blocked popup.
    var tab = window.open("", "_blank");
    if (tab) tab.opener = null;
    api("POST", "/api/oauth/connect", { provider: provider }).then(function (r) {
      login = { state: r.state, timer: null, started: Date.now() };
      var link = part("url");
      link.href = r.url || "#";
      part("link").hidden = !r.url;
      if (r.flow === "device") {
        part("code").textContent = r.userCode || "";
        part("device").hidden = false;
        link.textContent = "Open the verification page";
        say("Waiting for you to approve the code on the provider's page…");
      } else {
        link.textContent = "Open the sign-in page";
        part("paste").hidden = false;
        say("Waiting for the sign-in in the new tab…");
      }
      if (tab && r.url) tab.location.href = r.url;
      else if (tab) tab.close();
      schedule();
    }, function (err) {
      if (tab) tab.close();
      finish("Could not start: " + err.message);
    });
  }

  function schedule() {
    if (!login) return;
    login.timer = window.setTimeout(poll, POLL_MS);
  }

  function poll() {
    if (!login) return;
    if (Date.now() - login.started > MAX_POLL_MS) { finish("The sign-in timed out. Start again."); return; }
    if (document.hidden) { schedule(); return; } // hidden tab: skip this tick
    var state = login.state;
    api("GET", "/api/oauth/connect/" + encodeURIComponent(state)).then(function (r) {
      if (!login || login.state !== state) return;
      if (r.status === "ok") {
        finish("Connected: " + (r.account || "account") + ". Reloading…");
        window.setTimeout(function () { window.location.reload(); }, 600);
      } else if (r.status === "error") {
        finish("Sign-in failed: " + (r.error || "unknown error"));
      } else {
        schedule();
      }
    }, function (err) { finish("Sign-in failed: " + err.message); });
  }

  function paste(form) {
    if (!login) return;
    var value = form.querySelector("input").value;
    say("Handing the address to the proxy…");
    api("POST", "/api/oauth/connect/" + encodeURIComponent(login.state) + "/callback", { redirectUrl: value })
      .then(function () { stopPolling(); say("Finishing the sign-in…"); poll(); },
            function (err) { say(err.message); });
  }

  function cancel() {
    if (!login) { panel().hidden = true; return; }
    var state = login.state;
    stopPolling();
    login = null;
    api("DELETE", "/api/oauth/connect/" + encodeURIComponent(state)).then(function () {
      panel().hidden = true;
    }, function (err) { say("Cancel failed: " + err.message); });
  }

  function importFile(form) {
    var input = form.querySelector("input[type=file]");
    var out = $("[data-import-status]");
    var file = input.files && input.files[0];
    if (!file) return;
    if (file.size > 1024 * 1024) { out.textContent = "The file is larger than 1 MiB."; return; }
    out.textContent = "Importing…";
    file.text().then(function (text) {
      return api("POST", "/api/oauth/import", { fileName: file.name, fileContent: text });
    }).then(function (r) {
      out.textContent = "Imported " + r.name + ". Reloading…";
      window.setTimeout(function () { window.location.reload(); }, 600);
    }, function (err) { out.textContent = "Import failed: " + err.message; });
  }

  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-oauth-connect], [data-login-cancel]");
    if (!el || !$("#oauth-page")) return;
    event.preventDefault();
    if (el.hasAttribute("data-oauth-connect")) start(el.getAttribute("data-oauth-connect"), el.textContent.trim());
    else cancel();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-login-paste")) { event.preventDefault(); event.stopPropagation(); paste(form); }
    else if (form.id === "oauth-import") { event.preventDefault(); event.stopPropagation(); importFile(form); }
  }, true);
})();

// The Quota page: bar widths from data attributes (the CSP forbids inline styles) and reset
// countdowns that keep ticking.
(function () {
  "use strict";

  function countdown(at) {
    var left = Math.floor((at - Date.now()) / 1000);
    if (left <= 0) return "now";
    var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600), m = Math.floor((left % 3600) / 60);
    if (d) return "in " + d + " d " + h + " h";
    if (h) return "in " + h + " h " + m + " min";
    return "in " + Math.max(1, m) + " min";
  }

  function paint() {
    document.querySelectorAll(".quota-bar > span[data-width]").forEach(function (el) {
      el.style.width = el.getAttribute("data-width") + "%";
    });
    document.querySelectorAll("[data-reset-at]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-reset-at"));
      if (!isNaN(at)) el.textContent = countdown(at);
    });
  }

  document.addEventListener("DOMContentLoaded", paint);
  document.addEventListener("htmx:afterSettle", paint);
  window.setInterval(paint, 30000);
})();
