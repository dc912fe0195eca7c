// Applies the saved colour theme before the page paints (loaded in <head>, no inline script).
(function () {
  try {
    var saved = window.localStorage.getItem("theme");
    if (saved === "light" || saved === "dark") {
      document.documentElement.setAttribute("data-theme", saved);
    }
  } catch (e) {
    // Storage can be unavailable (private mode): the system preference applies.
  }
})();
