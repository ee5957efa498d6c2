// /docs: Swagger UI over /openapi.json, started from this file (the page's policy allows no
// inline script). The document's address comes from the page, so it follows the app's root.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    // the "Try it out" calls go to this server only (connect-src 'self')
    validatorUrl: null,
  });
})();
