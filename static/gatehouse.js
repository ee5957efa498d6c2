/* Gatehouse hosted pages: optional enhancements. Every page works without this file. */
(function () {
  "use strict";
  // Resend cooldown: count the server-computed seconds down and enable the button at 0.
  var note = document.querySelector("[data-cooldown]");
  if (!note) { return; }
  var seconds = parseInt(note.getAttribute("data-cooldown"), 10);
  var button = note.parentNode.querySelector("button[name=resend]");
  var template = note.textContent;
  var timer = window.setInterval(function () {
    seconds -= 1;
    if (seconds <= 0) {
      window.clearInterval(timer);
      note.textContent = "";
      if (button) { button.disabled = false; }
      return;
    }
    note.textContent = template.replace(/\d+/, String(seconds));
  }, 1000);
})();
