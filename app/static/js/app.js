// Hilo's page behaviour. No inline scripts (CSP): everything hooks in from here.
(function () {
  "use strict";

  // Errors from htmx requests (4xx/5xx) arrive as a small fragment: show it as a toast.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var box = document.getElementById("toasts");
    if (!box) return;
    var holder = document.createElement("div");
    if (xhr.getResponseHeader("Content-Type") && xhr.getResponseHeader("Content-Type").indexOf("text/html") === 0
        && xhr.responseText.length < 2000 && xhr.responseText.indexOf("toast") !== -1) {
      holder.innerHTML = xhr.responseText;
    } else {
      holder.innerHTML = '<div class="toast toast-error" role="alert"></div>';
      holder.firstChild.textContent = "Something went wrong (" + xhr.status + "). Please try again.";
    }
    var toast = holder.firstElementChild;
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 8000);
  });
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-error";
    toast.setAttribute("role", "alert");
    toast.textContent = "Cannot reach the server. Check your connection; your text is still in the form.";
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 8000);
  });

  // Flash toasts fade out by themselves.
  function fadeToasts(root) {
    root.querySelectorAll(".toast").forEach(function (toast) {
      if (toast.dataset.timed) return;
      toast.dataset.timed = "1";
      setTimeout(function () { toast.remove(); }, 6000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { fadeToasts(document); });

  // Controls meant for the author of a message (or an admin) only: one fragment is pushed
  // to every viewer, so each browser hides what is not its own.
  function ownOnly(root) {
    var body = document.body;
    var me = body.dataset.userId;
    var admin = body.hasAttribute("data-admin");
    root.querySelectorAll("[data-owner-only]").forEach(function (el) {
      el.hidden = !(admin || el.dataset.ownerOnly === me);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { ownOnly(document); });
  document.addEventListener("htmx:load", function (event) { ownOnly(event.detail.elt.parentNode || document); });

  // Close open menus on Escape or an outside click.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") document.querySelectorAll("details.menu[open]").forEach(function (d) { d.open = false; });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (d) { if (!d.contains(event.target)) d.open = false; });
  });

  // "/" outside a text field goes to the search box (the top bar's, or the search page's).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    if (target.isContentEditable || (target.closest && target.closest("input, textarea, select"))) return;
    var box = document.querySelector("[data-search-box]");
    if (!box || box.offsetParent === null) return;
    event.preventDefault();
    box.focus();
    box.select();
  });

  window.Hilo = { ownOnly: ownOnly };
})();
