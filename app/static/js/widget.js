/* The visitor's chat window (templates/livechat/chat.html): its socket, its forms, and the
   fragments the server sends, from the socket or in answer to a form, applied the same way:
   an element marked data-lc="append" is added to its data-lc-target unless one with its id is
   already there (a message never shows twice); data-lc="replace" replaces the element of its id.
   A message keeps its key until the server has it, so a resend after a lost answer is one message. */
(function () {
  "use strict";
  var body = document.body;
  var key = body.getAttribute("data-lc-key");
  var STORE = "hilo-chat:" + key;

  function read(name) { try { return localStorage.getItem(name) || ""; } catch (e) { return ""; } }
  function write(name, value) { try { localStorage.setItem(name, value); } catch (e) { /* private mode */ } }

  // The share link first asks the browser which visitor it keeps, then comes back with it.
  if (body.hasAttribute("data-lc-boot")) {
    var query = new URLSearchParams(location.search);
    query.set("v", read(STORE));
    location.replace(location.pathname + "?" + query.toString());
    return;
  }

  var token = body.getAttribute("data-lc-token");
  write(STORE, token);
  var embedded = window.parent !== window;
  if (embedded) window.parent.postMessage({ hiloChat: "visitor", token: token }, "*");

  var scroller = document.getElementById("lc-scroll");
  function nearBottom() { return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80; }
  function toBottom() { scroller.scrollTop = scroller.scrollHeight; }

  function lastId() {
    var rows = document.querySelectorAll("#lc-messages [data-id]");
    return rows.length ? rows[rows.length - 1].getAttribute("data-id") : "0";
  }

  function apply(html) {
    if (!html || html.indexOf("data-lc") < 0) return;
    var follow = nearBottom();
    var holder = document.createElement("template");
    holder.innerHTML = html;
    Array.prototype.slice.call(holder.content.children).forEach(function (el) {
      var mode = el.getAttribute("data-lc");
      var existing = el.id ? document.getElementById(el.id) : null;
      if (mode === "append") {
        if (existing) return;
        var welcome = document.getElementById("lc-welcome");
        if (welcome) welcome.remove();
        var target = document.querySelector(el.getAttribute("data-lc-target"));
        if (!target) return;
        // Rows go in id order, even when one fetched to catch up lands after a pushed one.
        var id = Number(el.getAttribute("data-id") || 0);
        var after = Array.prototype.slice.call(target.querySelectorAll("[data-id]")).filter(function (row) {
          return Number(row.getAttribute("data-id")) > id;
        })[0];
        target.insertBefore(el, after || null);
      } else if (mode === "replace" && existing) {
        var keep = el.getAttribute("data-lc-keep");
        var composer = document.getElementById("lc-body");
        if (el.id === "lc-footer" && composer && composer.value && el.querySelector("#lc-body")) {
          el.querySelector("#lc-body").value = composer.value;  // what the visitor is typing stays
        }
        existing.replaceWith(el);
        if (keep !== null) {
          var box = document.getElementById("lc-body");
          if (box && !box.value) box.value = keep;
        }
      }
    });
    if (follow) toBottom();
  }

  // ---- forms ---------------------------------------------------------------------------------
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  var pendingKey = null;  // the composer's message not yet confirmed

  function showError(text) {
    var box = document.getElementById("lc-error");
    if (box) box.textContent = text;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-lc-form")) return;
    event.preventDefault();
    var question = form.getAttribute("data-lc-confirm");
    if (question && !window.confirm(question)) return;
    var data = new FormData(form);
    var isMessage = data.has("body") && /\/messages$/.test(form.getAttribute("action"));
    if (isMessage) {
      if (!String(data.get("body")).trim()) return;
      if (form.hasAttribute("data-lc-composer")) { pendingKey = pendingKey || newKey(); data.set("key", pendingKey); }
      else data.set("key", newKey());
      data.set("url", body.getAttribute("data-lc-url") || "");
      stopTyping();
    }
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    fetch(form.getAttribute("action"), { method: "POST", body: data, headers: { "X-Visitor-Token": token },
                                         credentials: "omit" })
      .then(function (response) {
        return response.text().then(function (text) {
          if (isMessage && form.hasAttribute("data-lc-composer") && response.ok) {
            var box = form.querySelector("textarea");
            if (box) box.value = "";
            pendingKey = null;
          }
          apply(text);
          if (!response.ok && text.indexOf("data-lc") < 0) showError("This could not be sent. Try again.");
        });
      })
      .catch(function () { showError("Not sent: check your connection and press send again."); })
      .then(function () {
        if (button && document.body.contains(button)) button.disabled = false;
        var box = document.getElementById("lc-body");
        if (box && isMessage) box.focus();
      });
  });

  // Enter sends, Shift+Enter is a new line.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (box.id !== "lc-body" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (box.form) box.form.requestSubmit();
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-lc-close], [data-lc-new]") : null;
    if (!target) return;
    event.preventDefault();
    if (target.hasAttribute("data-lc-close")) { window.parent.postMessage({ hiloChat: "close" }, "*"); return; }
    var query = new URLSearchParams(location.search);
    query.set("v", token);
    query.set("fresh", "1");
    location.replace(location.pathname + "?" + query.toString());
  });

  // ---- the socket ------------------------------------------------------------------------------
  var socket = null, retry = 1000;
  var typingSent = 0;

  function send(data) {
    if (socket && socket.readyState === 1) { try { socket.send(JSON.stringify(data)); } catch (e) { /* closing */ } }
  }
  function stopTyping() { if (typingSent) { typingSent = 0; send({ typing: false }); } }
  document.addEventListener("input", function (event) {
    if (event.target.id !== "lc-body") return;
    if (!event.target.value) { stopTyping(); return; }
    if (Date.now() - typingSent > 2000) { typingSent = Date.now(); send({ typing: true }); }
  });

  function catchUp() {
    fetch(body.getAttribute("data-lc-messages") + "?after=" + lastId(),
          { headers: { "X-Visitor-Token": token }, credentials: "omit" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(apply)
      .catch(function () { /* the next reconnect tries again */ });
  }

  function connect() {
    var url = new URL(body.getAttribute("data-lc-socket"), location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("v", token);
    socket = new WebSocket(url.toString());
    socket.addEventListener("open", function () {
      retry = 1000;
      body.classList.remove("lc-offline-socket");
      catchUp();  // what was said before it opened, or while it was down

    });
    socket.addEventListener("message", function (event) { apply(event.data); });
    socket.addEventListener("close", function (event) {
      socket = null;
      if (event.code === 1008) return;  // this visitor is unknown here: nothing to wait for
      body.classList.add("lc-offline-socket");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    });
  }
  connect();
  toBottom();
  var composer = document.getElementById("lc-body");
  if (composer && !embedded) composer.focus();
})();
