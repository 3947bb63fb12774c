// Swagger UI on the API's own description, from the jar (no CDN).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: new URL("../openapi.json", window.location.href).pathname,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
});
