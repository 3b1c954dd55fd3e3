// Roster's behaviour on top of htmx. Loaded from 'self' only: no inline scripts, no eval,
// no hx-on attributes (they need eval, which the CSP forbids).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function announce(message, category) {
    var region = document.getElementById("flashes");
    if (!region) return;
    var p = document.createElement("p");
    p.className = "flash flash-" + (category || "error");
    p.textContent = message;
    region.replaceChildren(p);
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRFToken"] = csrfToken();
    // Keep pushed URLs short: a GET form's empty fields are the defaults.
    if (evt.detail.verb === "get") {
      var params = evt.detail.parameters;
      var names = params.keys ? Array.from(params.keys()) : Object.keys(params);
      names.forEach(function (name) {
        var value = params.get ? params.get(name) : params[name];
        if (value === "") {
          if (params.delete) params.delete(name); else delete params[name];
        }
      });
    }
  });

  // The server says what went wrong (HX-Trigger: roster:error) when there is nothing to swap.
  document.body.addEventListener("roster:error", function (evt) {
    announce(evt.detail.message || "The request was refused.", "error");
  });

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Trigger")) return; // already announced
    announce("Something went wrong (" + (xhr ? xhr.status : "?") + "). Nothing was changed; reload and try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    announce("The server could not be reached. Check your connection and try again.");
  });

  // Row role selects: the Save button appears once the value differs, so arrow keys never save.
  function syncSave(select) {
    var button = select.form && select.form.querySelector("button.save");
    if (button) button.hidden = select.value === select.dataset.initial;
  }

  // Selection for the bulk bar.
  function rowBoxes() {
    return Array.from(document.querySelectorAll("input.select-row"));
  }

  function syncSelection() {
    var boxes = rowBoxes();
    var checked = boxes.filter(function (b) { return b.checked; }).length;
    var all = document.querySelector("input.all-matching");
    var count = document.querySelector(".js-selected-count");
    var page = document.querySelector("input.select-page");
    if (page) {
      page.checked = boxes.length > 0 && checked === boxes.length;
      page.indeterminate = checked > 0 && checked < boxes.length;
    }
    if (count) {
      count.textContent = all && all.checked ? "All matching" : String(checked || "No");
    }
    var bar = document.querySelector(".bulkbar");
    if (bar) bar.classList.toggle("has-selection", checked > 0 || (all && all.checked));
  }

  document.addEventListener("change", function (evt) {
    var t = evt.target;
    if (!(t instanceof HTMLElement)) return;
    if (t.matches("select.role-select")) syncSave(t);
    if (t.matches("input.select-page")) {
      rowBoxes().forEach(function (b) { b.checked = t.checked; });
    }
    if (t.matches("input.select-page, input.select-row, input.all-matching")) syncSelection();
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target instanceof Element && evt.target.closest("button[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.dataset.copy);
    if (!input) return;
    input.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        document.execCommand("copy"); done();
      });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  function onLoad(root) {
    root.querySelectorAll("select.role-select").forEach(syncSave);
    syncSelection();
    var token = root.querySelector("input.token-text");
    if (token) token.select();
  }

  document.addEventListener("htmx:load", function (evt) { onLoad(evt.detail.elt); });
  if (!window.htmx) {
    document.addEventListener("DOMContentLoaded", function () { onLoad(document); });
  }
})();
