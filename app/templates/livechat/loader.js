/* Hilo live chat loader for "{{ channel.name|replace('*/', '') }}": a floating button that opens the chat in an
   iframe. No framework, no global names, no styles outside its own shadow root. */
(function () {
  "use strict";
  var KEY = {{ channel.key|tojson }};
  var SETTINGS = {{ settings_url|tojson }};
  var CHAT = {{ chat_url|tojson }};
  var ORIGIN = new URL(CHAT).origin;
  var STORE = "hilo-chat:" + KEY, OPEN = "hilo-chat-open:" + KEY;
  if (document.querySelector('[data-hilo-chat="' + KEY + '"]')) return;

  function read(storage, name) { try { return storage.getItem(name) || ""; } catch (e) { return ""; } }
  function write(storage, name, value) { try { storage.setItem(name, value); } catch (e) { /* private mode */ } }

  var CSS = ":host{all:initial}" +
    ".hc-btn{position:fixed;right:20px;bottom:20px;z-index:2147483646;display:flex;align-items:center;gap:8px;" +
    "padding:12px 18px;border:0;border-radius:999px;background:var(--hc-color,#4f46e5);color:#fff;" +
    "font:600 15px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;box-shadow:0 6px 24px rgba(0,0,0,.18);cursor:pointer}" +
    ".hc-btn:focus-visible{outline:3px solid #fff;outline-offset:-6px}" +
    ".hc-btn svg{width:20px;height:20px;flex:none}" +
    ".hc-panel{position:fixed;right:20px;bottom:84px;z-index:2147483647;width:380px;height:min(620px,calc(100vh - 110px));" +
    "border-radius:16px;overflow:hidden;box-shadow:0 12px 48px rgba(0,0,0,.22);background:#fff}" +
    ".hc-panel[hidden]{display:none}" +
    ".hc-panel iframe{width:100%;height:100%;border:0;display:block}" +
    "@media (max-width:480px){.hc-panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}" +
    ".hc-open .hc-btn{display:none}}";

  function start(settings) {
    if (!settings || settings.action === "hide") return;
    var host = document.createElement("div");
    host.setAttribute("data-hilo-chat", KEY);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = document.createElement("style");
      style.textContent = CSS;
      root.appendChild(style);
    }
    var wrap = document.createElement("div");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "hc-btn";
    button.setAttribute("aria-expanded", "false");
    button.style.setProperty("--hc-color", settings.button_color || "#4f46e5");
    button.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
    var label = document.createElement("span");
    label.textContent = settings.button_text || "Chat with us";
    button.appendChild(label);
    var panel = document.createElement("div");
    panel.className = "hc-panel";
    panel.hidden = true;
    wrap.appendChild(panel);
    wrap.appendChild(button);
    root.appendChild(wrap);
    document.body.appendChild(host);

    var frame = null;
    function open() {
      if (!frame) {
        var who = window.HiloChat || {};
        var query = new URLSearchParams({ v: read(localStorage, STORE), url: location.href, title: document.title });
        ["identifier", "name", "email"].forEach(function (name) { if (who[name]) query.set(name, String(who[name])); });
        if (who.identityHash) query.set("hash", String(who.identityHash));
        frame = document.createElement("iframe");
        frame.title = settings.button_text || "Chat";
        frame.allow = "clipboard-write";
        frame.src = CHAT + "?" + query.toString();
        panel.appendChild(frame);
      }
      panel.hidden = false;
      wrap.classList.add("hc-open");
      button.setAttribute("aria-expanded", "true");
      write(sessionStorage, OPEN, "1");
    }
    function close() {
      panel.hidden = true;
      wrap.classList.remove("hc-open");
      button.setAttribute("aria-expanded", "false");
      write(sessionStorage, OPEN, "");
      button.focus();
    }
    button.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
    window.addEventListener("message", function (event) {
      if (event.origin !== ORIGIN || !frame || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.hiloChat === "visitor" && typeof data.token === "string") write(localStorage, STORE, data.token);
      if (data.hiloChat === "close") close();
    });
    document.addEventListener("keydown", function (event) { if (event.key === "Escape" && !panel.hidden) close(); });
    if (read(sessionStorage, OPEN) === "1") open();  /* it stays open from page to page */
    else if (settings.action === "auto") setTimeout(function () { if (panel.hidden) open(); }, (settings.open_after || 0) * 1000);
  }

  function load() {
    fetch(SETTINGS + "?url=" + encodeURIComponent(location.href), { credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(start)
      .catch(function () { /* the chat is a nicety: a site must not break for it */ });
  }
  if (document.body) load(); else document.addEventListener("DOMContentLoaded", load);
})();
