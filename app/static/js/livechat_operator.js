/* Operators: a new or waiting live chat (templates/livechat/_ring.html, pushed to the operator's
   socket) plays a short chime and, when the page is in the background and the browser allows it,
   shows a desktop notification that opens the chat. Turning availability on asks for that
   permission (a browser asks only on a click). */
(function () {
  "use strict";
  var audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach(function (frequency, i) {
        var tone = audio.createOscillator(), gain = audio.createGain();
        var at = audio.currentTime + i * 0.16;
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.3);
        tone.connect(gain).connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.32);
      });
    } catch (e) { /* no sound: the sidebar still shows the chat */ }
  }
  var rang = null;
  document.addEventListener("htmx:oobAfterSwap", function () {
    var ring = document.getElementById("livechat-ring");  // the swapped-in element (the old one is gone)
    if (!ring || !ring.getAttribute("data-session") || ring === rang) return;
    rang = ring;
    document.body.setAttribute("data-livechat-rang", ring.getAttribute("data-session"));
    chime();
    if (window.Notification && Notification.permission === "granted" && document.visibilityState !== "visible") {
      var note = new Notification(ring.getAttribute("data-title"), { body: ring.getAttribute("data-body"),
                                                                      tag: "hilo-chat-" + ring.getAttribute("data-session") });
      note.onclick = function () { window.focus(); location.href = ring.getAttribute("data-url"); };
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-notify-permission]");
    if (button && window.Notification && Notification.permission === "default") Notification.requestPermission();
  });
})();
