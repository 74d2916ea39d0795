// The chatter's behaviour: composer drafts, files, Ctrl+Enter, @mentions, live rows.
// No inline scripts (CSP): everything hooks in from here, on page load and on htmx swaps.
(function () {
  "use strict";

  var MENTION_TOKEN = /(^|[\s(\[{"'])@([^\s@]{0,40}(?: [^\s@]{0,40}){0,2})$/;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function limitText(bytes) {
    var mb = bytes / (1024 * 1024);
    return mb >= 1 ? Math.round(mb) + " MB" : Math.round(bytes / 1024) + " KB";
  }

  function showErrors(box, messages) {
    if (!box) return;
    box.textContent = "";
    messages.forEach(function (text) {
      var p = document.createElement("p");
      p.className = "composer-error";
      p.textContent = text;
      box.appendChild(p);
    });
  }

  // ---- the composer ---------------------------------------------------------------------------

  function currentKind(form) {
    var checked = document.querySelector('input[name="kind"]:checked[form="' + form.id + '"]') ||
      form.querySelector('input[name="kind"]:checked');
    return checked ? checked.value : "comment";
  }

  function applyMode(form) {
    var kind = currentKind(form);
    form.dataset.mode = kind;
    var textarea = form.querySelector("textarea[name=body]");
    if (textarea) {
      var placeholder = textarea.getAttribute("data-placeholder-" + kind);
      if (placeholder) textarea.placeholder = placeholder;
    }
  }

  function Composer(form) {
    this.form = form;
    this.textarea = form.querySelector("textarea[name=body]");
    this.input = form.querySelector("input[type=file][name=files]");
    this.list = form.querySelector("[data-file-list]");
    this.errors = form.querySelector(".composer-errors");
    this.maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
    this.maxFiles = parseInt(form.dataset.maxFiles || "10", 10);
    this.key = form.dataset.draftKey;
    this.files = [];
    this.saveTimer = null;
    form._composer = this;
    this.bind();
    this.restore();
    applyMode(form);
  }

  Composer.prototype.bind = function () {
    var self = this, form = this.form;
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind") { applyMode(form); self.save(); }
      if (event.target === self.input) self.addFiles(self.input.files);
    });
    this.textarea.addEventListener("input", function () { self.saveSoon(); });
    var enterSends = form.hasAttribute("data-enter-sends");  // chat: Enter sends, Shift+Enter is a new line
    this.textarea.addEventListener("keydown", function (event) {
      if (enterSends && event.key === "ArrowUp" && !self.textarea.value && !event.shiftKey
          && !event.ctrlKey && !event.metaKey && !event.altKey) {
        // Up in an empty chat composer edits your last message, as in other chat apps.
        var mine = document.querySelectorAll('.chat-messages .message-comment[data-author="'
                                             + document.body.dataset.userId + '"]');
        var edit = mine.length && mine[mine.length - 1].querySelector(".message-actions a[hx-get]");
        if (edit) { event.preventDefault(); edit.click(); }
        return;
      }
      if (event.key !== "Enter" || event.isComposing) return;
      var mentions = self.textarea._mentions;
      if (mentions && !mentions.menu.hidden) return;  // Enter picks the highlighted colleague
      if (event.ctrlKey || event.metaKey || (enterSends && !event.shiftKey && !event.altKey)) {
        event.preventDefault();
        self.send();
      }
    });
    this.textarea.addEventListener("paste", function (event) {
      var items = event.clipboardData && event.clipboardData.files;
      if (items && items.length) { event.preventDefault(); self.addFiles(items); }
    });
    ["dragenter", "dragover"].forEach(function (type) {
      form.addEventListener(type, function (event) {
        if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") !== -1) {
          event.preventDefault();
          form.classList.add("is-dropping");
        }
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      form.addEventListener(type, function (event) {
        if (type === "dragleave" && form.contains(event.relatedTarget)) return;
        form.classList.remove("is-dropping");
      });
    });
    form.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) {
        event.preventDefault();
        self.addFiles(event.dataTransfer.files);
      }
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.elt !== form) return;
      // A 422 is swapped (its reason shows in the composer) but is not a success: keep the text.
      if (event.detail.successful && event.detail.xhr.status < 300) self.reset();
    });
    // A post that started while the text was empty but files exist is fine; an empty one is not.
    form.addEventListener("htmx:confirm", function (event) {
      if (event.detail.elt !== form) return;
      if (!self.textarea.value.trim() && !self.files.length) {
        event.preventDefault();
        showErrors(self.errors, ["Write a message or attach a file."]);
        self.textarea.focus();
      }
    });
  };

  Composer.prototype.send = function () {
    if (typeof this.form.requestSubmit === "function") this.form.requestSubmit();
    else this.form.dispatchEvent(new Event("submit", { cancelable: true, bubbles: true }));
  };

  Composer.prototype.saveSoon = function () {
    var self = this;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(function () { self.save(); }, 250);
  };

  Composer.prototype.save = function () {
    var store = storage();
    if (!store || !this.key) return;
    try {
      if (this.textarea.value.trim()) {
        store.setItem(this.key, JSON.stringify({ body: this.textarea.value, kind: currentKind(this.form), at: Date.now() }));
        this.form.setAttribute("data-draft", "saved");
      } else {
        store.removeItem(this.key);
        this.form.removeAttribute("data-draft");
      }
    } catch (e) { /* storage full or refused: the draft is a convenience */ }
  };

  Composer.prototype.restore = function () {
    var store = storage();
    if (!store || !this.key || this.textarea.value.trim()) return;
    var draft = null;
    try { draft = JSON.parse(store.getItem(this.key) || "null"); } catch (e) { draft = null; }
    if (!draft || !draft.body) return;
    this.textarea.value = draft.body;
    var radio = document.querySelector('input[name="kind"][value="' + draft.kind + '"][form="' + this.form.id + '"]') ||
      this.form.querySelector('input[name="kind"][value="' + draft.kind + '"]');
    if (radio) radio.checked = true;
    this.form.setAttribute("data-draft", "saved");
  };

  Composer.prototype.clearDraft = function () {
    var store = storage();
    clearTimeout(this.saveTimer);
    if (store && this.key) { try { store.removeItem(this.key); } catch (e) { /* ignore */ } }
  };

  Composer.prototype.reset = function () {
    var cc = this.form.querySelector("input[name=cc]");
    if (cc) { cc.value = ""; cc.closest("details").open = false; }
    this.textarea.value = "";
    this.files = [];
    this.syncFiles();
    showErrors(this.errors, []);
    this.clearDraft();
    this.form.removeAttribute("data-draft");
    this.textarea.focus();
  };

  Composer.prototype.addFiles = function (fileList) {
    var self = this, problems = [];
    Array.prototype.forEach.call(fileList, function (file) {
      var duplicate = self.files.some(function (f) {
        return f.name === file.name && f.size === file.size && f.lastModified === file.lastModified;
      });
      if (duplicate) return;
      if (self.maxBytes && file.size > self.maxBytes) {
        problems.push("“" + file.name + "” is larger than " + limitText(self.maxBytes) + " (the limit per file).");
      } else if (file.size === 0) {
        problems.push("“" + file.name + "” is empty.");
      } else if (self.files.length >= self.maxFiles) {
        problems.push("Attach at most " + self.maxFiles + " files; “" + file.name + "” was left out.");
      } else {
        self.files.push(file);
      }
    });
    showErrors(this.errors, problems);
    this.syncFiles();
  };

  Composer.prototype.syncFiles = function () {
    var self = this;
    if (this.input) {
      try {
        var transfer = new DataTransfer();
        this.files.forEach(function (f) { transfer.items.add(f); });
        this.input.files = transfer.files;
      } catch (e) {
        if (!this.files.length) this.input.value = "";
      }
    }
    if (!this.list) return;
    this.list.textContent = "";
    this.files.forEach(function (file, index) {
      var li = document.createElement("li");
      li.className = "composer-file";
      var name = document.createElement("span");
      name.className = "composer-file-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "composer-file-size";
      size.textContent = humanSize(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "icon-btn";
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.title = "Remove";
      remove.textContent = "×";
      remove.addEventListener("click", function () {
        self.files.splice(index, 1);
        self.syncFiles();
        self.textarea.focus();
      });
      li.appendChild(name);
      li.appendChild(size);
      li.appendChild(remove);
      self.list.appendChild(li);
    });
    this.form.classList.toggle("has-files", this.files.length > 0);
  };

  // ---- the note editor ------------------------------------------------------------------------

  // Keys of the editor, delegated: they work from the first keystroke, even before the
  // editor's htmx:load (the textarea has autofocus, so a fast typist can beat it).
  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    var form = textarea && textarea.closest && textarea.closest("form.message-edit");
    if (!form || textarea.name !== "body") return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
    } else if (event.key === "Escape" && !textarea._mentionOpen) {
      var cancel = form.querySelector(".edit-cancel");
      if (cancel) { event.preventDefault(); cancel.click(); }
    }
  });

  function initEditor(form) {
    var textarea = form.querySelector("textarea[name=body]");
    if (!textarea) return;
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }

  // ---- @mentions ------------------------------------------------------------------------------

  var MIRROR_PROPS = ["boxSizing", "width", "height", "overflowX", "overflowY", "borderTopWidth", "borderRightWidth",
    "borderBottomWidth", "borderLeftWidth", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft",
    "fontStyle", "fontVariant", "fontWeight", "fontStretch", "fontSize", "lineHeight", "fontFamily",
    "textAlign", "textTransform", "textIndent", "letterSpacing", "wordSpacing", "tabSize"];

  function caretPoint(textarea, position) {
    var mirror = document.createElement("div");
    var style = window.getComputedStyle(textarea);
    MIRROR_PROPS.forEach(function (prop) { mirror.style[prop] = style[prop]; });
    mirror.style.position = "absolute";
    mirror.style.visibility = "hidden";
    mirror.style.whiteSpace = "pre-wrap";
    mirror.style.wordWrap = "break-word";
    mirror.style.top = "0";
    mirror.style.left = "-9999px";
    mirror.textContent = textarea.value.substring(0, position);
    var marker = document.createElement("span");
    marker.textContent = "\u200b";
    mirror.appendChild(marker);
    document.body.appendChild(mirror);
    var point = {
      top: marker.offsetTop - textarea.scrollTop + parseFloat(style.lineHeight || "20"),
      left: Math.min(marker.offsetLeft, textarea.clientWidth - 200)
    };
    document.body.removeChild(mirror);
    return point;
  }

  function Mentions(textarea) {
    this.textarea = textarea;
    this.url = textarea.dataset.mentionsUrl;
    this.menu = document.createElement("ul");
    this.menu.className = "mention-menu";
    this.menu.id = (textarea.id || "composer") + "-mentions";
    this.menu.setAttribute("role", "listbox");
    this.menu.setAttribute("aria-label", "People to mention");
    this.menu.hidden = true;
    textarea.parentNode.appendChild(this.menu);
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", this.menu.id);
    textarea.setAttribute("aria-expanded", "false");
    this.items = [];
    this.active = 0;
    this.start = -1;
    this.timer = null;
    this.controller = null;
    this.seq = 0;
    textarea._mentions = this;
    this.bind();
  }

  Mentions.prototype.bind = function () {
    var self = this, textarea = this.textarea;
    textarea.addEventListener("input", function () { self.update(); });
    textarea.addEventListener("click", function () { self.update(); });
    textarea.addEventListener("blur", function () { setTimeout(function () { self.close(); }, 150); });
    textarea.addEventListener("keydown", function (event) {
      if (self.menu.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        self.highlight((self.active + step + self.items.length) % self.items.length);
      } else if ((event.key === "Enter" || event.key === "Tab") && !event.ctrlKey && !event.metaKey) {
        if (!self.items.length) return;
        event.preventDefault();
        event.stopImmediatePropagation();
        self.pick(self.items[self.active]);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopImmediatePropagation();
        self.close();
      }
    }, true);
    this.menu.addEventListener("mousedown", function (event) { event.preventDefault(); });
    this.menu.addEventListener("click", function (event) {
      var li = event.target.closest("[data-index]");
      if (li) self.pick(self.items[parseInt(li.dataset.index, 10)]);
    });
  };

  Mentions.prototype.update = function () {
    var textarea = this.textarea;
    var caret = textarea.selectionStart;
    if (caret !== textarea.selectionEnd) { this.close(); return; }
    var before = textarea.value.substring(Math.max(0, caret - 90), caret);
    var match = MENTION_TOKEN.exec(before);
    if (!match) { this.close(); return; }
    this.start = caret - match[2].length - 1;
    this.query = match[2];
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.fetch(match[2]); }, 120);
  };

  Mentions.prototype.fetch = function (query) {
    var self = this, seq = ++this.seq;
    if (this.controller) this.controller.abort();
    this.controller = typeof AbortController === "function" ? new AbortController() : null;
    fetch(this.url + "?q=" + encodeURIComponent(query), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      signal: this.controller ? this.controller.signal : undefined
    }).then(function (response) {
      return response.ok ? response.json() : { users: [] };
    }).then(function (data) {
      if (seq !== self.seq) return;
      var users = data.users || [];
      // "@Ann Le" with a space and no match is just text: stop offering.
      if (!users.length && query.indexOf(" ") !== -1) { self.close(); return; }
      self.show(users);
    }).catch(function () { /* aborted or offline: no suggestions */ });
  };

  Mentions.prototype.show = function (users) {
    var self = this;
    this.items = users;
    this.menu.textContent = "";
    if (!users.length) {
      var empty = document.createElement("li");
      empty.className = "mention-empty";
      empty.textContent = "Nobody matches “" + this.query + "”";
      this.menu.appendChild(empty);
    }
    users.forEach(function (user, index) {
      var li = document.createElement("li");
      li.id = self.menu.id + "-" + index;
      li.setAttribute("role", "option");
      li.dataset.index = String(index);
      li.className = "mention-option";
      var badge = document.createElement("span");
      badge.className = "avatar avatar-initials avatar-sm avatar-c" + (user.id % 8);
      badge.setAttribute("aria-hidden", "true");
      badge.textContent = user.initials;
      var text = document.createElement("span");
      text.className = "mention-text";
      var name = document.createElement("strong");
      name.textContent = user.name;
      var email = document.createElement("small");
      email.textContent = user.email;
      text.appendChild(name);
      text.appendChild(email);
      li.appendChild(badge);
      li.appendChild(text);
      self.menu.appendChild(li);
    });
    var point = caretPoint(this.textarea, this.start);
    this.menu.style.top = (this.textarea.offsetTop + point.top + 4) + "px";
    this.menu.style.left = (this.textarea.offsetLeft + Math.max(point.left, 0)) + "px";
    this.menu.hidden = false;
    this.textarea._mentionOpen = true;
    this.textarea.setAttribute("aria-expanded", "true");
    this.highlight(0);
  };

  Mentions.prototype.highlight = function (index) {
    this.active = index;
    var options = this.menu.querySelectorAll("[role=option]");
    options.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
    if (options[index]) {
      this.textarea.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    }
  };

  Mentions.prototype.pick = function (user) {
    if (!user) return;
    var textarea = this.textarea;
    var caret = textarea.selectionStart;
    var insert = "@" + user.name + " ";
    textarea.value = textarea.value.substring(0, this.start) + insert + textarea.value.substring(caret);
    var position = this.start + insert.length;
    textarea.setSelectionRange(position, position);
    this.close();
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    this.close();
  };

  Mentions.prototype.close = function () {
    clearTimeout(this.timer);
    this.seq++;
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    this.items = [];
    this.textarea._mentionOpen = false;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  };

  // ---- live rows ------------------------------------------------------------------------------

  // The poster gets the new row twice: in the answer to the post and over the socket,
  // in either order. The second one is dropped. A row that replaces itself (an edit, a
  // delivery status) targets the row, not the list, and always goes through.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail.fragment;
    if (!fragment || !fragment.querySelector) return;
    var row = fragment.querySelector(".message[id]");
    var target = event.detail.target;
    if (row && !(target && target.id === row.id) && document.getElementById(row.id)) {
      event.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!elt || !elt.classList || !elt.classList.contains("composer") || !event.detail.shouldSwap) return;
    var response = event.detail.serverResponse || "";
    var match = /<article id="(message-\d+)"/.exec(response);
    if (match && document.getElementById(match[1])) {
      // Keep the out-of-band parts (files, followers); drop the row the socket brought first.
      event.detail.serverResponse = response.replace(
        new RegExp('<article id="' + match[1] + '"[\\s\\S]*?</article>'), "");
    }
  });

  // A socket that dropped and came back missed what was published meanwhile: lists that
  // know how (data-catch-up-url) fetch the messages after their last row. Rows that arrive
  // twice (fetched and pushed) are dropped by id.
  var socketOpened = false;
  document.addEventListener("htmx:wsOpen", function () {
    if (!socketOpened) { socketOpened = true; return; }
    document.querySelectorAll("[data-catch-up-url]").forEach(function (list) {
      var rows = list.querySelectorAll(".message[id^='message-']");
      var last = rows.length ? rows[rows.length - 1].id.replace("message-", "") : "0";
      htmx.ajax("GET", list.getAttribute("data-catch-up-url") + "?after=" + last,
                { target: list, swap: "beforeend" });
    });
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.hasAttribute || !target.hasAttribute("data-catch-up-url")) return;
    var response = event.detail.serverResponse || "";
    event.detail.serverResponse = response.replace(/<article id="(message-\d+)"[\s\S]*?<\/article>/g,
      function (row, id) { return document.getElementById(id) ? "" : row; });
  });

  // A conversation reads bottom-up: open at the newest message, and follow new ones while
  // the reader is at the bottom (not while they scroll back through history).
  function chatScrollers() { return document.querySelectorAll(".conversation-scroll"); }
  function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 120; }
  var wasNearBottom = new WeakMap();
  document.addEventListener("htmx:oobBeforeSwap", function () {
    chatScrollers().forEach(function (box) { wasNearBottom.set(box, nearBottom(box)); });
  });
  document.addEventListener("htmx:beforeSwap", function () {
    chatScrollers().forEach(function (box) { wasNearBottom.set(box, nearBottom(box)); });
  });
  function followBottom() {
    chatScrollers().forEach(function (box) {
      if (wasNearBottom.get(box) !== false) box.scrollTop = box.scrollHeight;
    });
  }
  document.addEventListener("htmx:oobAfterSwap", followBottom);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.closest && event.detail.target.closest(".chat-older")) return;
    followBottom();
  });
  document.addEventListener("DOMContentLoaded", function () {
    var target = /^#message-\d+$/.test(location.hash) ? document.getElementById(location.hash.slice(1)) : null;
    chatScrollers().forEach(function (box) {
      var separator = box.querySelector(".new-separator");
      if (target && box.contains(target)) box.scrollTop = Math.max(0, target.offsetTop - box.offsetTop - 80);
      else if (separator) box.scrollTop = Math.max(0, separator.offsetTop - box.offsetTop - 40);
      else box.scrollTop = box.scrollHeight;
    });
  });

  // Relative times ("3 min ago") stay true while the page is open; times pushed live
  // (rendered once for everyone) get the reader's local date and tooltip here.
  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll(".chatter time[datetime]").forEach(function (el) {
      var stamp = Date.parse(el.getAttribute("datetime"));
      if (isNaN(stamp)) return;
      if (el.hasAttribute("data-relative") && !el.title) el.title = new Date(stamp).toLocaleString();
      if (!/ago$|^just now$/.test(el.textContent) && !el.hasAttribute("data-relative")) return;
      var seconds = Math.max(0, Math.floor((now - stamp) / 1000));
      var text;
      if (seconds < 60) text = "just now";
      else if (seconds < 3600) text = Math.floor(seconds / 60) + " min ago";
      else if (seconds < 86400) text = Math.floor(seconds / 3600) + " h ago";
      else if (seconds < 7 * 86400) text = Math.floor(seconds / 86400) + " d ago";
      else text = new Date(stamp).toLocaleDateString(undefined, { day: "2-digit", month: "short", year: "numeric" });
      if (el.textContent !== text) el.textContent = text;
    });
  }
  setInterval(function () { refreshTimes(document); }, 30000);

  // ---- reactions and stars -------------------------------------------------------------------

  // A reaction bar is rendered once for every viewer: mark the reader's own reactions here.
  function markReactions(root) {
    var me = " " + document.body.dataset.userId + " ";
    root.querySelectorAll(".reaction[data-reacted-by]").forEach(function (button) {
      var mine = button.getAttribute("data-reacted-by").indexOf(me) !== -1;
      button.setAttribute("aria-pressed", mine ? "true" : "false");
      button.classList.toggle("is-mine", mine);
    });
  }
  // A star is private, so a row pushed to everyone (an edit) does not know it: keep the
  // reader's star from the row it replaces.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target, fragment = event.detail.fragment;
    if (!target || !fragment || !target.classList || !target.classList.contains("message")) return;
    var old = target.querySelector(".star-toggle.is-starred");
    var fresh = fragment.querySelector && fragment.querySelector(".star-toggle");
    if (old && fresh) {
      fresh.classList.add("is-starred");
      ["aria-pressed", "title", "aria-label"].forEach(function (name) { fresh.setAttribute(name, old.getAttribute(name)); });
    }
  });
  // Picking an emoji closes the picker.
  document.addEventListener("htmx:afterRequest", function (event) {
    var menu = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("details.react-menu");
    if (menu) menu.open = false;
  });

  // ---- read receipts (direct messages and group chats) ---------------------------------------

  // Under the reader's own last message: "Seen" once the other person has read it, or
  // "Seen by Ann, Bob" in a group. Pointers come rendered once for everyone; this picks.
  function seenBy(box) {
    var list = box.parentNode && box.parentNode.querySelector(".chat-messages");
    var rows = list ? list.querySelectorAll(".message-comment[data-author]") : [];
    var last = rows.length ? rows[rows.length - 1] : null, me = document.body.dataset.userId, text = "";
    if (last && last.getAttribute("data-author") === me) {
      var id = parseInt(last.id.replace("message-", ""), 10), names = [], others = 0;
      box.querySelectorAll(".seen-pointer").forEach(function (pointer) {
        if (pointer.getAttribute("data-user") === me) return;
        others++;
        if (parseInt(pointer.getAttribute("data-seen"), 10) >= id) names.push(pointer.textContent);
      });
      if (names.length) text = others === 1 ? "Seen" : (names.length === others ? "Seen by everyone" : "Seen by " + names.join(", "));
    }
    var label = box.querySelector(".seen-text");
    if (label && label.textContent !== text) label.textContent = text;
  }
  function allSeenBy() { document.querySelectorAll(".seen-by").forEach(seenBy); }
  document.addEventListener("DOMContentLoaded", allSeenBy);
  document.addEventListener("htmx:oobAfterSwap", allSeenBy);
  document.addEventListener("htmx:afterSwap", allSeenBy);

  // ---- typing and presence (frames sent back on the page's socket) -----------------------------

  var socket = null;
  function sendFrame(data) {
    if (socket) { try { socket.send(JSON.stringify(data)); } catch (e) { /* reconnecting */ } }
  }

  // "Maya is typing…": the composer says so at most every 2 s while text changes, and stops
  // when the text is sent or cleared. Viewers drop an entry 6 s after its last refresh.
  var TYPING_EVERY = 2000, TYPING_SHOWN = 6000;
  function watchTyping(textarea) {
    var thread = parseInt(textarea.getAttribute("data-typing"), 10), last = 0;
    function stop() {
      if (last) { last = 0; sendFrame({ typing: thread, stop: true }); }
    }
    textarea.addEventListener("input", function () {
      if (!textarea.value.trim()) { stop(); return; }
      var now = Date.now();
      if (now - last >= TYPING_EVERY) { last = now; sendFrame({ typing: thread }); }
    });
    textarea.addEventListener("blur", function () { if (!textarea.value.trim()) stop(); });
    var form = textarea.form;
    if (form) form.addEventListener("htmx:beforeRequest", function (event) { if (event.detail.elt === form) stop(); });
  }

  function typingLine(box) {
    var me = document.body.dataset.userId, names = [], seen = {};
    var entries = box.querySelectorAll(".typing-entry");
    for (var i = entries.length - 1; i >= 0; i--) {  // newest entry of each person wins
      var entry = entries[i], user = entry.getAttribute("data-user");
      var gone = seen[user] || user === me || entry.hasAttribute("data-stop");
      seen[user] = true;
      if (gone) { entry.remove(); continue; }
      if (!entry._expires) {
        entry._expires = setTimeout(function (el) { el.remove(); typingLine(box); }, TYPING_SHOWN, entry);
      }
      names.unshift(entry.textContent);
    }
    var text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
    else if (names.length > 2) text = "Several people are typing…";
    var label = box.querySelector(".typing-text");
    if (label && label.textContent !== text) label.textContent = text;
    box.classList.toggle("is-active", names.length > 0);
  }

  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("typing")) typingLine(target);
  });
  // Once someone's message arrives, they are no longer typing it.
  document.addEventListener("htmx:load", function (event) {
    var row = event.detail.elt;
    if (!row || !row.getAttribute || !row.getAttribute("data-author")) return;
    document.querySelectorAll(".typing").forEach(function (box) {
      box.querySelectorAll('.typing-entry[data-user="' + row.getAttribute("data-author") + '"]')
        .forEach(function (entry) { entry.remove(); });
      typingLine(box);
    });
  });

  // A colleague's new status: copy its dot over each of theirs on the page (if any).
  document.addEventListener("htmx:load", function (event) {
    var update = event.detail.elt;
    if (!update.classList || !update.classList.contains("presence-update")) return;
    var dot = update.firstElementChild;
    if (dot) {
      document.querySelectorAll(".presence-u" + update.getAttribute("data-user")).forEach(function (old) {
        if (old !== dot) old.replaceWith(dot.cloneNode(true));
      });
    }
    update.remove();
  });

  // Presence: a page with no keyboard or pointer activity for 5 minutes is away; any activity
  // makes it online again. The server combines every open page of the person.
  var AWAY_AFTER = 5 * 60 * 1000, lastActive = Date.now(), away = false;
  function active() {
    lastActive = Date.now();
    if (away) { away = false; sendFrame({ presence: "online" }); }
  }
  ["keydown", "pointerdown", "pointermove", "wheel", "focus"].forEach(function (type) {
    window.addEventListener(type, active, { passive: true, capture: true });
  });
  setInterval(function () {
    if (!away && Date.now() - lastActive > AWAY_AFTER) { away = true; sendFrame({ presence: "away" }); }
  }, 15000);

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    if (away) sendFrame({ presence: "away" });  // a new connection starts online
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; });

  // ---- wiring ---------------------------------------------------------------------------------

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    var scope = root;
    scope.querySelectorAll("form.composer").forEach(function (form) {
      if (!form._composer) new Composer(form);
    });
    scope.querySelectorAll("form.message-edit").forEach(function (form) {
      if (!form._ready) { form._ready = true; initEditor(form); }
    });
    scope.querySelectorAll("textarea[data-mentions-url]").forEach(function (textarea) {
      if (!textarea._mentions) new Mentions(textarea);
    });
    scope.querySelectorAll("textarea[data-typing]").forEach(function (textarea) {
      if (!textarea._typing) { textarea._typing = true; watchTyping(textarea); }
    });
    scope.querySelectorAll("details.followers-menu").forEach(function (details) {
      if (details._ready) return;
      details._ready = true;
      details.addEventListener("toggle", function () {
        var search = details.querySelector("input[type=search]");
        if (details.open && search) search.focus();
      });
      if (details.open) {
        var search = details.querySelector("input[type=search]");
        if (search) search.focus();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); markReactions(document); });
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (elt === document.body) return;
    // A row arriving on top of the thread (posted or live) is highlighted for a moment.
    if (elt.classList && elt.classList.contains("message") && !elt.classList.contains("is-editing") &&
        elt.parentNode && elt.parentNode.firstElementChild === elt) {
      elt.classList.add("is-new");
    }
    init(elt.parentNode || elt);
    refreshTimes(elt.parentNode || elt);
    markReactions(elt.parentNode || elt);
  });
})();
