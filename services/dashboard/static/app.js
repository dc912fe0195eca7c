// Progressive enhancement for the dashboard: theme toggle, copy buttons, confirmation dialogs,
// the mobile menu and dynamic form rows. Every page works without this file.
(function () {
  "use strict";

  function currentTheme() {
    var set = document.documentElement.getAttribute("data-theme");
    if (set) return set;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function labelThemeButtons() {
    var next = currentTheme() === "dark" ? "light" : "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (btn) {
      btn.setAttribute("aria-label", "Switch to " + next + " mode");
      btn.textContent = next === "dark" ? "Dark mode" : "Light mode";
    });
  }

  function toggleTheme() {
    var next = currentTheme() === "dark" ? "light" : "dark";
    document.documentElement.setAttribute("data-theme", next);
    try { window.localStorage.setItem("theme", next); } catch (e) { /* not persisted */ }
    labelThemeButtons();
    document.dispatchEvent(new CustomEvent("themechange", { detail: { theme: next } }));
  }

  function copyFrom(button) {
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target) return;
    var text = target.textContent.trim();
    var done = function () {
      var old = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(target); });
    } else {
      selectText(target);
      try { document.execCommand("copy"); done(); } catch (e) { /* selected for manual copy */ }
    }
  }

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // A native <dialog> asks before destructive actions; `onConfirm` runs on "Confirm".
  function askConfirm(message, onConfirm) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(message)) onConfirm();
      return;
    }
    dialog.querySelector("[data-confirm-message]").textContent = message;
    var ok = dialog.querySelector("[data-confirm-ok]");
    var cancel = dialog.querySelector("[data-confirm-cancel]");
    var close = function () {
      ok.removeEventListener("click", accept);
      cancel.removeEventListener("click", reject);
      dialog.close();
    };
    var accept = function () { close(); onConfirm(); };
    var reject = function () { close(); };
    ok.addEventListener("click", accept);
    cancel.addEventListener("click", reject);
    dialog.showModal();
    cancel.focus();
  }

  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-theme-toggle], [data-copy-target], [data-menu-toggle], [data-add-row]");
    if (!el) return;
    if (el.hasAttribute("data-theme-toggle")) { toggleTheme(); }
    else if (el.hasAttribute("data-copy-target")) { event.preventDefault(); copyFrom(el); }
    else if (el.hasAttribute("data-menu-toggle")) {
      var open = document.body.classList.toggle("sidebar-open");
      el.setAttribute("aria-expanded", open ? "true" : "false");
    } else if (el.hasAttribute("data-add-row")) {
      event.preventDefault();
      addRow(el);
    }
  });

  function addRow(button) {
    var body = document.querySelector(button.getAttribute("data-add-row"));
    var template = document.getElementById(button.getAttribute("data-row-template"));
    if (!body || !template) return;
    var row = template.content.firstElementChild.cloneNode(true);
    body.appendChild(row);
    var input = row.querySelector("input");
    if (input) input.focus();
  }

  // htmx asks through this event before every request, boosted forms included.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    var message = form && form.getAttribute && form.getAttribute("data-confirm");
    if (!message) return;
    event.preventDefault();
    askConfirm(message, function () { event.detail.issueRequest(true); });
  });

  // Without htmx (it failed to load), confirm plain form submissions the same way.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (window.htmx || !form.hasAttribute("data-confirm") || form.dataset.confirmed) return;
    event.preventDefault();
    askConfirm(form.getAttribute("data-confirm"), function () {
      form.dataset.confirmed = "1";
      form.submit();
    });
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      document.body.classList.remove("sidebar-open");
    }
  });

  // Group colours come from user data: set through the CSSOM (allowed by the CSP), never inline.
  function paintSwatches() {
    document.querySelectorAll("[data-color]").forEach(function (el) {
      var color = el.getAttribute("data-color");
      if (/^#[0-9a-fA-F]{6}$/.test(color)) el.style.backgroundColor = color;
    });
  }

  function enhance() {
    labelThemeButtons();
    paintSwatches();
  }

  document.addEventListener("DOMContentLoaded", enhance);
  document.addEventListener("htmx:afterSettle", enhance);
})();
