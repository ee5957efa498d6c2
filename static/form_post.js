// OAuth 2.0 Form Post Response Mode: submit the hidden form at once. A file, not an inline
// script, so the page keeps its CSP (script-src 'self'); without JavaScript the visible
// "Continue" button does the same.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
});
