/* Gatehouse hosted pages: passkeys (Web Authentication Level 3).

   The server renders the ceremony's options into the page, in a
   <script type="application/json" id="..."> block that a form names with
   data-passkey-options (not executed, so the Content-Security-Policy stays
   script-src 'self'). This script hands them to the browser's authenticator
   and posts the answer back in the form's hidden "credential" field as the
   JSON of PublicKeyCredential.toJSON(); the server verifies everything.

   - <form data-passkey="create">: "Add a passkey" (navigator.credentials.create)
   - <form data-passkey="get">: "Sign in with a passkey", and the passkey as a
     second factor (navigator.credentials.get)
   - data-passkey-autofill on such a form: the same get with conditional
     mediation is started on page load, so the browser offers passkeys in the
     username field's autofill (autocomplete="username webauthn")

   Without WebAuthn (or without this script) the passkey buttons stay hidden
   and every other way in works as before. */
(function () {
  "use strict";
  var supported = !!(window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON &&
    PublicKeyCredential.parseRequestOptionsFromJSON);

  function options(form) {
    var block = document.getElementById(form.getAttribute("data-passkey-options"));
    return JSON.parse(block.textContent);
  }

  function report(form, message) {
    var note = form.querySelector("[data-passkey-message]");
    if (note) { note.textContent = message || note.getAttribute("data-passkey-message"); note.hidden = false; }
  }

  function send(form, credential) {
    form.querySelector("input[name=credential]").value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  // the conditional request waiting in the username field's autofill: a browser runs one
  // WebAuthn request at a time, so a button's request aborts it first
  var autofill = null;

  function ceremony(form, mediation) {
    var kind = form.getAttribute("data-passkey");
    var request;
    if (!mediation && autofill) { autofill.abort(); autofill = null; }
    if (kind === "create") {
      request = navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options(form))
      });
    } else {
      var get = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options(form)) };
      if (mediation) {
        get.mediation = mediation;
        autofill = new AbortController();
        get.signal = autofill.signal;
      }
      request = navigator.credentials.get(get);
    }
    return request.then(function (credential) {
      if (credential) { send(form, credential); }
    }, function (error) {
      // NotAllowedError: the person cancelled or no passkey answered. A conditional
      // request is also aborted when the person picks a password instead: say nothing then.
      if (!mediation) { report(form, error && error.name === "InvalidStateError" ? form.getAttribute("data-passkey-exists") : null); }
    });
  }

  var forms = document.querySelectorAll("form[data-passkey]");
  Array.prototype.forEach.call(forms, function (form) {
    if (!supported) { return; }
    if (form.hasAttribute("data-passkey-autofill") && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) { ceremony(form, "conditional"); }
      });
    }
    form.hidden = false;  // the passkey button shows only where it can work
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) { return; }
      event.preventDefault();
      ceremony(form, null);
    });
  });
})();
