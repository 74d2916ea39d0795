// Settings › Live chat. The channel's preview follows its form as the admin types (colours go
// through CSS custom properties set with style.setProperty: the CSP forbids style attributes,
// not the CSSOM), and says when the widget's white text would be hard to read; copy buttons for the embed line, link and secret; a step's answers and a
// rule's delay show only when they apply. Without JavaScript every field simply stays visible.
(function () {
  "use strict";

  var READABLE = 4.5;  // WCAG AA contrast for text

  // The contrast of white text (the widget's) on `hex`, from its WCAG relative luminance.
  function contrastWithWhite(hex) {
    var channels = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 1.05 / (0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2] + 0.05);
  }

  function bindPreview(preview) {
    var form = document.getElementById(preview.dataset.lcPreview);
    if (!form) return;
    function value(name) {
      var input = form.elements[name];
      return input ? input.value.trim() : "";
    }
    function paint() {
      [["button_color", "--lc-button"], ["header_color", "--lc-header"]].forEach(function (pair) {
        var colour = value(pair[0]);
        if (!/^#[0-9a-fA-F]{6}$/.test(colour)) return;
        preview.style.setProperty(pair[1], colour);
        var warning = preview.parentNode.querySelector("[data-lc-contrast=" + pair[0] + "]");
        if (warning) warning.hidden = contrastWithWhite(colour) >= READABLE;
      });
      preview.querySelectorAll("[data-lc-text]").forEach(function (node) {
        var text = value(node.dataset.lcText) || (node.dataset.lcFallback ? value(node.dataset.lcFallback) : "");
        node.textContent = text || "Chat";
      });
      preview.querySelectorAll("[data-lc-show]").forEach(function (node) {
        node.hidden = !value(node.dataset.lcShow);
      });
    }
    form.addEventListener("input", paint);
    paint();
  }

  function bindCopy(button) {
    var target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.value).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      }, function () {
        target.select();  // no permission: select it for Ctrl+C
      });
    });
  }

  // Show `wrapper` only while `test()` holds for the form's current values.
  function showWhen(form, wrapper, test) {
    function update() { wrapper.hidden = !test(form); }
    form.addEventListener("change", update);
    update();
  }

  function checked(form, name) {
    var input = form.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }

  function init() {
    document.querySelectorAll("[data-lc-preview]").forEach(bindPreview);
    document.querySelectorAll("button[data-copy]").forEach(bindCopy);
    document.querySelectorAll("form[data-lc-step-form]").forEach(function (form) {
      form.querySelectorAll("[data-lc-when-kind]").forEach(function (wrapper) {
        showWhen(form, wrapper, function () {
          return form.elements.kind.value === wrapper.dataset.lcWhenKind || wrapper.querySelector(".has-error");
        });
      });
      form.querySelectorAll("[data-lc-when-condition]").forEach(function (wrapper) {
        showWhen(form, wrapper, function () {
          return form.elements.only_if_step.value !== "0" || wrapper.querySelector(".has-error");
        });
      });
    });
    document.querySelectorAll("form[data-lc-rule-form]").forEach(function (form) {
      form.querySelectorAll("[data-lc-when-action]").forEach(function (wrapper) {
        showWhen(form, wrapper, function () {
          return checked(form, "action") === wrapper.dataset.lcWhenAction || wrapper.querySelector(".has-error");
        });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
