// The helpdesk board: drag and drop between columns, keyboard moves, stars and quick create
// without reloads, and cards pushed by other agents put in their place. No inline scripts (CSP).
(function () {
  "use strict";

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Answers are fragments marked hx-swap-oob (the card, the counts, a toast): htmx applies them.
  function apply(html) {
    if (html && window.htmx) window.htmx.swap(document.body, html, { swapStyle: "none" });
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRFToken": token(), "HX-Request": "true" }
    }).then(function (response) {
      return response.text().then(function (html) { return { status: response.status, html: html }; });
    }).catch(function () {
      apply('<div hx-swap-oob="beforeend:#toasts"><div class="toast toast-error" role="alert">' +
            "Cannot reach the server. The card stays where it was.</div></div>");
      return { status: 0, html: "" };
    });
  }

  function focusCard(id) {
    var card = document.getElementById("card-" + id);
    if (card) card.focus();
  }

  // ---- order: priority (desc), SLA deadline (asc, none last), id --------------------------------

  function before(a, b) {
    var pa = +a.dataset.priority, pb = +b.dataset.priority;
    if (pa !== pb) return pa > pb;
    var da = a.dataset.deadline, db = b.dataset.deadline;
    if (da !== db) {
      if (!da) return false;
      if (!db) return true;
      return +da < +db;
    }
    return +a.dataset.ticketId < +b.dataset.ticketId;
  }

  function place(card) {
    var list = card.parentNode;
    if (!list || !list.classList || !list.classList.contains("board-cards")) return;
    document.querySelectorAll('[id="' + card.id + '"]').forEach(function (other) {
      if (other !== card) other.remove();
    });
    if (list.hasAttribute("data-folded") && !list.hasAttribute("data-loaded")) { card.remove(); return; }
    var cards = Array.prototype.filter.call(list.children, function (el) {
      return el !== card && el.classList.contains("board-card");
    });
    var next = null;
    for (var i = 0; i < cards.length; i++) { if (before(card, cards[i])) { next = cards[i]; break; } }
    var more = list.querySelector(".board-more");
    if (!next && more) { card.remove(); return; }  // beyond the loaded page: it comes with the next one
    list.insertBefore(card, next || more);
  }

  // The card that had the focus last: when a live copy replaces it (the mover's own change coming
  // back over the socket after their answer), the focus goes to the copy instead of the page.
  var focusedCard = null;

  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (!(elt.classList && elt.classList.contains("board-card"))) return;
    place(elt);
    var lost = !document.activeElement || document.activeElement === document.body;
    if (lost && focusedCard === elt.id && elt.isConnected) elt.focus();
  });

  // ---- moving a card ----------------------------------------------------------------------------

  function move(card, stageId) {
    if (!card || String(stageId) === card.dataset.stageId) return;
    var id = card.dataset.ticketId, data = new FormData();
    data.append("from_stage", card.dataset.stageId);
    data.append("stage_id", stageId);
    card.classList.add("is-moving");
    post(card.dataset.moveUrl, data).then(function (answer) {
      card.classList.remove("is-moving");
      apply(answer.html);
      focusCard(id);
    });
  }

  function columnLists() {
    return Array.prototype.slice.call(document.querySelectorAll("#board .board-cards"));
  }

  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.ticketId);
    card.classList.add("is-dragging");
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
    document.querySelectorAll(".board-column.is-drop-target").forEach(function (c) { c.classList.remove("is-drop-target"); });
  });
  document.addEventListener("dragover", function (event) {
    var column = dragged && event.target.closest && event.target.closest(".board-column");
    if (!column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".board-column.is-drop-target").forEach(function (c) {
      if (c !== column) c.classList.remove("is-drop-target");
    });
    column.classList.add("is-drop-target");
  });
  document.addEventListener("drop", function (event) {
    var column = dragged && event.target.closest && event.target.closest(".board-column");
    if (!column) return;
    event.preventDefault();
    column.classList.remove("is-drop-target");
    move(dragged, column.dataset.stageId);
  });

  // ---- keyboard: arrows between cards, Alt+←/→ (or [ and ]) moves the focused card --------------

  document.addEventListener("keydown", function (event) {
    var card = event.target.classList && event.target.classList.contains("board-card") ? event.target : null;
    if (!card) return;
    var lists = columnLists(), list = card.parentNode, index = lists.indexOf(list);
    var step = { ArrowLeft: -1, ArrowRight: 1, "[": -1, "]": 1 }[event.key];
    if (step && (event.altKey || event.key === "[" || event.key === "]")) {
      event.preventDefault();
      var target = lists[index + step];
      if (target) move(card, target.dataset.stageId);
      return;
    }
    var cards = Array.prototype.slice.call(list.querySelectorAll(".board-card"));
    var at = cards.indexOf(card), goal = null;
    if (event.key === "ArrowDown") goal = cards[at + 1];
    else if (event.key === "ArrowUp") goal = cards[at - 1];
    else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      for (var i = index + (event.key === "ArrowLeft" ? -1 : 1); i >= 0 && i < lists.length && !goal;
           i += event.key === "ArrowLeft" ? -1 : 1) {
        var there = lists[i].querySelectorAll(".board-card");
        goal = there[Math.min(at, there.length - 1)] || null;
      }
    } else if (event.key === "Enter") {
      event.preventDefault();
      card.querySelector(".board-card-title").click();
      return;
    }
    if (goal) { event.preventDefault(); goal.focus(); }
  });

  // Controls inside a focused card are reachable with Tab once the card has focus.
  document.addEventListener("focusin", function (event) {
    document.querySelectorAll(".board-card.has-focus").forEach(function (c) {
      if (!c.contains(event.target)) {
        c.classList.remove("has-focus");
        c.querySelectorAll("button, select, a").forEach(function (el) { el.tabIndex = -1; });
      }
    });
    var card = event.target.closest && event.target.closest(".board-card");
    focusedCard = card ? card.id : null;
    if (card && !card.classList.contains("has-focus")) {
      card.classList.add("has-focus");
      card.querySelectorAll("button, select, a").forEach(function (el) { el.tabIndex = 0; });
    }
  });

  // ---- forms on the board: stars, "Move to", quick create ---------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-board-action")) {
      event.preventDefault();
      var card = form.closest(".board-card"), id = card && card.dataset.ticketId;
      var data = new FormData(form);
      if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
      post(form.action, data).then(function (answer) { apply(answer.html); focusCard(id); });
    } else if (form.hasAttribute("data-board-quick")) {
      event.preventDefault();
      var box = form.closest(".board-quick");
      post(form.action, new FormData(form)).then(function (answer) {
        if (answer.status === 422) {
          box.outerHTML = answer.html;  // the form again, with the message and what was typed
          var again = document.getElementById(box.id);
          if (again) again.querySelector("input[name=title]").focus();
          return;
        }
        if (answer.status >= 200 && answer.status < 300) {
          apply(answer.html);
          form.reset();
          form.querySelector("input[name=title]").focus();
        }
      });
    }
  });

  // Without JavaScript the "Move" button submits the form; with it, choosing is enough.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.name === "stage_id" && select.form && select.form.classList.contains("board-move-form")) {
      select.form.requestSubmit();
    }
    if (select.id === "board-team" && select.value) window.location.assign(select.value);
  });

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.getElementById("board");
    if (board) board.classList.add("is-live");
  });

  // A folded column unfolds on click (or Enter): its cards load once.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-unfold]");
    if (!button) return;
    var column = button.closest(".board-column"), list = column.querySelector(".board-cards");
    var folded = column.classList.toggle("is-folded");
    button.setAttribute("aria-expanded", folded ? "false" : "true");
    if (list.hasAttribute("data-loaded")) event.preventDefault();  // already there: no second load
    if (!folded) list.setAttribute("data-loaded", "");
  }, true);
})();
