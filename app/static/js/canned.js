// Canned responses in the composers: "::ref" anywhere, or "/ref" at the start of a line, opens a
// listbox of matching responses (rows rendered by the server, /canned/suggest); picking one
// replaces what was typed with the response's text, placeholders filled in for the thread.
// The text comes back as JSON and goes into the textarea as plain text: nothing is parsed as HTML.
(function () {
  "use strict";

  var SLASH = /^\/([A-Za-z0-9_-]{0,40})$/;
  // Not after a letter or a colon, so "std::vector" or "a:::b" in a message open nothing.
  var COLONS = /(^|[^A-Za-z0-9_:])::([A-Za-z0-9_-]{0,40})$/;
  var UNFILLED = /\{\{\s*[a-z_]+\.[a-z_]+\s*\}\}/;
  var DELAY = 100;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // The trigger the caret is at the end of: {start, end, text, query}, or null.
  function triggerAt(textarea) {
    var caret = textarea.selectionStart;
    if (caret !== textarea.selectionEnd) return null;
    var lineStart = textarea.value.lastIndexOf("\n", caret - 1) + 1;
    var line = textarea.value.substring(lineStart, caret);
    var slash = SLASH.exec(line);
    if (slash) return { start: lineStart, end: caret, text: line, query: slash[1] };
    var colons = COLONS.exec(line);
    if (!colons) return null;
    var start = lineStart + colons.index + colons[1].length;
    return { start: start, end: caret, text: textarea.value.substring(start, caret), query: colons[2] };
  }

  function CannedMenu(textarea) {
    this.textarea = textarea;
    this.url = textarea.dataset.cannedUrl;
    this.menu = document.createElement("ul");
    this.menu.className = "canned-menu";
    this.menu.id = (textarea.id || "composer") + "-canned";
    this.menu.setAttribute("role", "listbox");
    this.menu.setAttribute("aria-label", "Canned responses");
    this.menu.hidden = true;
    textarea.parentNode.appendChild(this.menu);
    this.options = [];
    this.active = 0;
    this.trigger = null;
    this.dismissed = -1;  // Escape closes the menu until a new trigger is typed
    this.timer = null;
    this.seq = 0;
    this.otherControls = null;  // the @mention menu's aria-controls, given back on close
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-expanded", "false");
    textarea._canned = this;
    this.bind();
  }

  CannedMenu.prototype.bind = function () {
    var self = this, textarea = this.textarea;
    textarea.addEventListener("input", function () { self.update(); });
    textarea.addEventListener("click", function () { self.update(); });
    textarea.addEventListener("blur", function () { setTimeout(function () { self.close(); }, 150); });
    // Capture: runs before the composer's own keys (Enter sends in a chat).
    textarea.addEventListener("keydown", function (event) { self.key(event); }, true);
    this.menu.addEventListener("mousedown", function (event) {
      if (!event.target.closest("a")) event.preventDefault();  // keep the focus in the textarea
    });
    this.menu.addEventListener("mousemove", function (event) {
      var option = event.target.closest("[role=option]");
      var index = Array.prototype.indexOf.call(self.options, option);
      if (index !== -1 && index !== self.active) self.highlight(index);
    });
    this.menu.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) self.pick(option);
    });
  };

  CannedMenu.prototype.key = function (event) {
    if (this.menu.hidden || event.isComposing) return;
    var plain = !event.ctrlKey && !event.metaKey && !event.altKey;
    if ((event.key === "ArrowDown" || event.key === "ArrowUp") && plain && this.options.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      var step = event.key === "ArrowDown" ? 1 : -1;
      this.highlight((this.active + step + this.options.length) % this.options.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && plain && !event.shiftKey && this.options.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      this.pick(this.options[this.active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopImmediatePropagation();
      this.dismissed = this.trigger ? this.trigger.start : -1;
      this.close();
    }
  };

  CannedMenu.prototype.update = function () {
    var trigger = triggerAt(this.textarea);
    if (!trigger) { this.dismissed = -1; this.close(); return; }
    if (trigger.start === this.dismissed) return;
    this.trigger = trigger;
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.fetch(trigger.query); }, DELAY);
  };

  CannedMenu.prototype.fetch = function (query) {
    var self = this, seq = ++this.seq;
    // A signed-out session is redirected to the sign-in page: that is no menu (redirect: "error").
    fetch(this.url + "&q=" + encodeURIComponent(query), {
      credentials: "same-origin", redirect: "error", headers: { "Accept": "text/html" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      if (seq === self.seq) self.show(html);
    }).catch(function () { if (seq === self.seq) self.close(); });
  };

  CannedMenu.prototype.show = function (html) {
    var menu = this.menu, textarea = this.textarea;
    menu.innerHTML = html;  // server-rendered rows, every value escaped there
    this.options = menu.querySelectorAll("[role=option]");
    this.options.forEach(function (option, index) { option.id = menu.id + "-" + index; });
    var box = textarea.getBoundingClientRect();
    var below = window.innerHeight - box.bottom;
    menu.classList.toggle("canned-menu-up", below < 260 && box.top > below);  // a chat composer at the bottom
    if (menu.hidden) {
      this.otherControls = textarea.getAttribute("aria-controls");
      menu.hidden = false;
    }
    textarea.setAttribute("aria-controls", menu.id);
    textarea.setAttribute("aria-expanded", "true");
    menu.scrollTop = 0;
    if (this.options.length) this.highlight(0);
    else textarea.removeAttribute("aria-activedescendant");
  };

  CannedMenu.prototype.highlight = function (index) {
    this.active = index;
    this.options.forEach(function (option, i) {
      option.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    var option = this.options[index];
    if (option) {
      this.textarea.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  };

  CannedMenu.prototype.pick = function (option) {
    var trigger = this.trigger, self = this;
    if (!option || !trigger) return;
    this.close();
    fetch(option.dataset.useUrl, {
      method: "POST", credentials: "same-origin", redirect: "error",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (data) {
      self.insert(trigger, data.text || "");
    }).catch(function () {
      self.fail("The response could not be inserted. Reload the page and try again.");
    });
  };

  // Replaces the trigger with the text if it is still where it was typed, else inserts at the caret.
  CannedMenu.prototype.insert = function (trigger, text) {
    var textarea = this.textarea, value = textarea.value;
    var start = trigger.start, end = trigger.end;
    if (value.substring(start, end) !== trigger.text) { start = textarea.selectionStart; end = textarea.selectionEnd; }
    textarea.value = value.substring(0, start) + text + value.substring(end);
    var unfilled = UNFILLED.exec(text);  // one the record had no value for: select it, to be typed over
    if (unfilled) textarea.setSelectionRange(start + unfilled.index, start + unfilled.index + unfilled[0].length);
    else textarea.setSelectionRange(start + text.length, start + text.length);
    textarea.focus();
    this.dismissed = -1;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));  // drafts, mentions, this menu
  };

  CannedMenu.prototype.fail = function (message) {
    var box = this.textarea.form && this.textarea.form.querySelector(".composer-errors");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "composer-error";
    p.textContent = message;
    box.textContent = "";
    box.appendChild(p);
  };

  CannedMenu.prototype.close = function () {
    clearTimeout(this.timer);
    this.seq++;
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    this.options = [];
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
    if (this.otherControls) this.textarea.setAttribute("aria-controls", this.otherControls);
    else this.textarea.removeAttribute("aria-controls");
  };

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("textarea[data-canned-url]").forEach(function (textarea) {
      if (!textarea._canned) new CannedMenu(textarea);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt.parentNode || event.detail.elt); });
})();
