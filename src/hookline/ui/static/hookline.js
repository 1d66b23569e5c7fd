/* Hookline admin UI: the little behaviour the pages have (no inline scripts: the CSP forbids
   them). Everything works without it; it only adds comfort. */
(function () {
  "use strict";

  var SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  /* <time datetime="ISO"> -> the browser's local time (the UTC value stays in the title). */
  function localTimes() {
    var format = { year: "numeric", month: "short", day: "numeric",
                   hour: "2-digit", minute: "2-digit", second: "2-digit" };
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime())) { return; }
      el.textContent = moment.toLocaleString(undefined, format);
      el.title = el.getAttribute("datetime") + " (UTC)";
    });
  }

  /* 32 URL-safe characters from the browser's CSPRNG (64 symbols: no modulo bias). */
  function randomSecret(length) {
    var bytes = new Uint8Array(length);
    window.crypto.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < length; i++) { out += SECRET_ALPHABET.charAt(bytes[i] & 63); }
    return out;
  }

  function webhookForm(form) {
    var secret = form.querySelector('input[name="secret"]');
    var remove = form.querySelector('input[name="remove_secret"]');
    var state = form.querySelector('[data-testid="signing-state"]');
    var generate = form.querySelector('[data-testid="generate-secret"]');
    var stored = state && state.getAttribute("data-stored") === "true";

    function showState() {
      if (!state || !secret) { return; }
      var removing = remove && remove.checked;
      var signed = !removing && (secret.value !== "" || stored);
      state.textContent = signed ? "Signed" : "Unsigned";
      state.classList.toggle("badge-ok", signed);
      state.classList.toggle("badge-muted", !signed);
    }
    if (secret) {
      secret.addEventListener("input", function () {
        if (remove && secret.value !== "") { remove.checked = false; }
        showState();
      });
    }
    if (remove) {
      remove.addEventListener("change", function () {
        if (remove.checked && secret) { secret.value = ""; }
        showState();
      });
    }
    if (generate && secret) {
      generate.addEventListener("click", function () {
        secret.value = randomSecret(32);
        if (remove) { remove.checked = false; }
        showState();
        secret.focus();
      });
    }

    /* Typing client ids means "specific clients". */
    var ids = form.querySelector('textarea[name="client_cuids"]');
    var specific = form.querySelector('input[name="clients"][value="specific"]');
    var all = form.querySelector('input[name="clients"][value="all"]');
    function dim() { if (ids && all) { ids.classList.toggle("dimmed", all.checked); } }
    if (ids && specific) {
      ids.addEventListener("input", function () {
        if (ids.value.trim() !== "") { specific.checked = true; }
        dim();
      });
      form.querySelectorAll('input[name="clients"]').forEach(function (radio) {
        radio.addEventListener("change", dim);
      });
    }
    dim();
    showState();
  }

  /* Filter forms: send the browser's UTC offset (for the time range) and leave empty
     fields out of the address. */
  function filterForm(form) {
    form.querySelectorAll("input[data-tz]").forEach(function (el) {
      el.value = String(-new Date().getTimezoneOffset());
    });
    form.addEventListener("submit", function () {
      var ranged = false;
      form.querySelectorAll('input[type="datetime-local"]').forEach(function (el) {
        if (el.value) { ranged = true; }
      });
      form.querySelectorAll("input, select").forEach(function (el) {
        if (el.name && (el.value === "" || (el.hasAttribute("data-tz") && !ranged))) {
          el.disabled = true;
        }
      });
      window.setTimeout(function () {
        form.querySelectorAll("input, select").forEach(function (el) { el.disabled = false; });
      }, 0);
    });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target || !navigator.clipboard) { return; }
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      });
    });
  }

  function start() {
    localTimes();
    document.querySelectorAll("form[data-webhook-form]").forEach(webhookForm);
    document.querySelectorAll("form[data-clean]").forEach(filterForm);
    copyButtons();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
