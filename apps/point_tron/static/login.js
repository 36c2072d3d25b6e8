/* The login form: POST /api/auth/login, keep the token, go to the dashboard. */
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var error = document.getElementById("login-error");
  var button = document.getElementById("login-submit");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    error.textContent = "";
    button.disabled = true;
    PT.post("/api/auth/login", {
      username: document.getElementById("username").value,
      password: document.getElementById("password").value
    }).then(function (data) {
      PT.setToken(data.token);
      window.location.assign("/admin");
    }).catch(function (err) {
      error.textContent = err.message;
      button.disabled = false;
    });
  });
})();
