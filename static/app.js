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
    // Keep pushed URLs short: a GET form's empty fields, and fields still at their default
    // (data-default, e.g. 25 per page, sorted by name), say nothing the server does not assume.
    if (evt.detail.verb === "get") {
      var params = evt.detail.parameters;
      var scope = evt.detail.elt.closest("form") || evt.detail.elt;
      var names = params.keys ? Array.from(params.keys()) : Object.keys(params);
      names.forEach(function (name) {
        var value = params.get ? params.get(name) : params[name];
        var field = scope.querySelector('[name="' + CSS.escape(name) + '"][data-default]');
        if (value === "" || (field && field.dataset.default === value)) {
          if (params.delete) params.delete(name); else delete params[name];
        }
      });
    }
  });

  // A navigation (a GET that pushes a new URL: sort, page, filter) starts a new view, so the
  // messages about the previous one go. Answers that have a message of their own bring it.
  // A region that is working says so to assistive technology (the spinner shows it to eyes).
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var region = evt.detail.elt.closest && evt.detail.elt.closest("[data-busy-region]");
    if (region) region.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var region = evt.detail.elt.closest && evt.detail.elt.closest("[data-busy-region]");
    if (region) region.removeAttribute("aria-busy");
  });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    var config = evt.detail.requestConfig;
    if (config && config.verb === "get" && elt.closest && elt.closest('[hx-push-url="true"]')) {
      var region = document.getElementById("flashes");
      if (region) region.replaceChildren();
    }
    // A form's submit button may have lost focus already (disabled, or the page blurred):
    // the event's submitter still names it.
    var trigger = config && config.triggeringEvent;
    rememberFocus((trigger && trigger.submitter) || elt, evt.detail.xhr);
  });

  // Focus after an in-place change. htmx keeps focus on an element whose id is in the new
  // content; when that element is gone or hidden (a Save button that hides once saved, a
  // confirmation bar), focus would fall to <body>, and keyboard and screen reader users would
  // lose their place. Put it back: the same element, else what the trigger names
  // (data-focus-after, e.g. the message), else the changed row, else the message.
  var focusPlan = null;

  function rememberFocus(elt, xhr) {
    var active = document.activeElement;
    var origin = active && active !== document.body ? active : elt;
    var row = origin && origin.closest ? origin.closest("tr[data-user-id]") : null;
    var trigger = origin && origin.closest ? origin.closest("[data-focus-after]") : null;
    focusPlan = {
      id: origin && origin.id ? origin.id : null,
      row: row ? row.id : null,
      after: trigger ? trigger.dataset.focusAfter : null,
      // The plan is this request's: an earlier request settling late (a quick keyboard user
      // answering a confirmation before it settled) must not spend it.
      xhr: xhr || null
    };
  }

  function focusable(el) {
    return el && el.isConnected && !el.disabled && !el.hidden && el.getClientRects().length > 0;
  }

  function focusOn(el) {
    if (!el) return false;
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus();
    return document.activeElement === el;
  }

  function restoreFocus(evt) {
    var plan = focusPlan;
    var active = document.activeElement;
    if (!plan || (active && active !== document.body)) return;
    var settled = evt && evt.detail && evt.detail.xhr;
    if (plan.xhr && settled && settled !== plan.xhr) return;
    focusPlan = null;
    var same = plan.id && document.getElementById(plan.id);
    if (focusable(same) && focusOn(same)) return;
    if (plan.after) {
      var named = document.querySelector(plan.after);
      if (focusable(named) && focusOn(named)) return;
    }
    var row = plan.row && document.getElementById(plan.row);
    if (row && row.isConnected) {
      var control = Array.from(row.querySelectorAll("select, button, input, a[href]")).find(focusable);
      if (focusOn(control || row)) return;
    }
    focusOn(document.querySelector("#flashes .flash"));
  }

  // What a swap brings to focus (data-autofocus, see the view's ``autofocus``), once htmx has
  // set the new content up, so that what the keyboard does next goes through htmx.
  document.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.querySelector) return;
    var wanted = elt.matches("[data-autofocus]") ? elt : elt.querySelector("[data-autofocus]");
    if (focusable(wanted)) wanted.focus();
  });

  document.addEventListener("htmx:afterSettle", restoreFocus);

  // Escape closes the open organization switcher and returns focus to its button.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    document.querySelectorAll("details.switcher[open]").forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
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

  // Row role menus. The page draws the table's role menu once (template#row-role-form); each
  // row a user may change comes with its role and a "Set role" button for use without
  // JavaScript (it posts the bulk bar's menu to the row's URL). Here each such row gets its
  // own copy of the menu instead: a select showing the row's role and a Save button, posting
  // to the same URL. Returns the new forms, for htmx to process.
  function drawRoleMenus(root) {
    var template = document.getElementById("row-role-form");
    if (!template) return [];
    return Array.from(root.querySelectorAll("button.set-role")).map(function (button) {
      var row = button.closest("tr");
      var tag = button.parentElement.querySelector(".role-tag");
      var name = row.querySelector(".person").textContent;
      var url = button.getAttribute("formaction");
      var form = template.content.firstElementChild.cloneNode(true);
      form.setAttribute("action", url);
      form.setAttribute("hx-post", url);
      var select = form.querySelector("select");
      select.value = select.dataset.initial = tag.textContent;
      select.setAttribute("aria-label", "Role of " + name);
      var save = form.querySelector("button");
      save.id = "save-" + row.dataset.userId;
      save.querySelector(".visually-hidden").textContent = " the role of " + name;
      tag.replaceWith(form);
      button.remove();
      syncSave(select);
      return form;
    });
  }

  // Row role selects: the Save button appears once the value differs, so arrow keys never save.
  function syncSave(select) {
    var button = select.form && select.form.querySelector("button.save");
    if (button) button.hidden = select.value === select.dataset.initial;
  }

  // Selection for the bulk bar. It outlives the page: the ids ticked on any page and under any
  // filter are kept per organization in sessionStorage (up to data-selection-max), counted in
  // the bar, and sent with a bulk action. "Every member matching the filter" replaces the
  // ticked rows while it is on (the rows show ticked and locked, the bar says so) and gives
  // them back when it is turned off. Without JavaScript the selection is the page's.
  function selectionForm() {
    return document.getElementById("bulk-form");
  }

  // False once the browser refuses sessionStorage (disabled, full): from then on the
  // selection is the page's ticked rows, sent as the form has them.
  var selectionStored = true;

  function readSelection() {
    var form = selectionForm();
    if (!form || !form.dataset.selectionKey) return [];
    try {
      var ids = JSON.parse(sessionStorage.getItem(form.dataset.selectionKey) || "[]");
      return Array.isArray(ids) ? ids.map(String) : [];
    } catch (e) {
      selectionStored = false;
      return [];
    }
  }

  function writeSelection(ids) {
    var form = selectionForm();
    if (!form || !form.dataset.selectionKey) return;
    try {
      sessionStorage.setItem(form.dataset.selectionKey, JSON.stringify(ids));
    } catch (e) {
      selectionStored = false;  // storage full or refused: the selection stays the page's
    }
  }

  function rowBoxes() {
    return Array.from(document.querySelectorAll("input.select-row"));
  }

  function allMatching() {
    var all = document.querySelector("input.all-matching");
    return all && all.checked ? all : null;
  }

  // The rows of the page show the stored selection; rows the server drew ticked (a
  // confirmation, a refusal) join it.
  function restoreSelection() {
    var ids = readSelection();
    var kept = new Set(ids);
    var matching = allMatching();
    rowBoxes().forEach(function (box) {
      if (box.checked && !box.disabled && !kept.has(box.value)) { ids.push(box.value); kept.add(box.value); }
      box.checked = matching ? true : kept.has(box.value);
      box.disabled = !!matching;
    });
    writeSelection(ids);
  }

  function selectRows(boxes, on) {
    var form = selectionForm();
    var max = form ? parseInt(form.dataset.selectionMax || "10000", 10) : 10000;
    var ids = readSelection();
    var kept = new Set(ids);
    boxes.forEach(function (box) {
      if (on && !kept.has(box.value)) {
        if (ids.length >= max) {
          box.checked = false;
          announce("At most " + max.toLocaleString() + " members can be selected at once. Use \u201cEvery member matching the filter\u201d for more.", "warning");
          return;
        }
        ids.push(box.value);
        kept.add(box.value);
      } else if (!on && kept.has(box.value)) {
        kept.delete(box.value);
      }
      box.checked = kept.has(box.value);
    });
    writeSelection(ids.filter(function (id) { return kept.has(id); }));
  }

  function syncSelection() {
    var boxes = rowBoxes();
    var ids = readSelection();
    var onPage = boxes.filter(function (b) { return b.checked; }).length;
    var matching = allMatching();
    var count = document.querySelector(".js-selected-count");
    var note = document.querySelector(".js-selection-note");
    var clear = document.querySelector("button.clear-selection");
    var page = document.querySelector("input.select-page");
    if (page) {
      page.checked = boxes.length > 0 && onPage === boxes.length;
      page.indeterminate = onPage > 0 && onPage < boxes.length;
      page.disabled = !!matching;
    }
    if (count) {
      count.textContent = matching ? "All matching" : (ids.length ? ids.length.toLocaleString() : "None");
    }
    if (note) {
      if (matching && ids.length) {
        note.textContent = "(instead of the " + ids.length.toLocaleString() + " ticked)";
      } else if (!matching && ids.length > onPage) {
        note.textContent = "(" + onPage.toLocaleString() + " on this page)";
      } else {
        note.textContent = "";
      }
    }
    if (clear) clear.hidden = !ids.length || !!matching;
    var bar = document.querySelector(".bulkbar");
    if (bar) bar.classList.toggle("has-selection", ids.length > 0 || !!matching);
  }

  function clearSelection() {
    writeSelection([]);
    rowBoxes().forEach(function (box) { if (!box.disabled) box.checked = false; });
    syncSelection();
  }

  // A bulk action sends the whole selection, not only the ticked rows of this page.
  document.addEventListener("htmx:configRequest", function (evt) {
    var form = selectionForm();
    if (!form || evt.detail.verb !== "post" || evt.detail.elt.closest("form") !== form) return;
    if (allMatching()) return;
    var ids = readSelection().join(",");
    if (!selectionStored) return;  // the ticked rows, as the form sends them
    var params = evt.detail.parameters;
    if (params.delete) {
      params.delete("user_ids");
      if (ids) params.append("user_ids", ids);
    } else {
      delete params.user_ids;
      if (ids) params.user_ids = ids;
    }
  });

  // The server says when a change went through: the selection it was made on is done with.
  document.body.addEventListener("roster:selection-done", clearSelection);

  document.addEventListener("change", function (evt) {
    var t = evt.target;
    if (!(t instanceof HTMLElement)) return;
    if (t.matches("select.role-select")) syncSave(t);
    if (t.matches("input.select-page")) selectRows(rowBoxes(), t.checked);
    if (t.matches("input.select-row")) selectRows([t], t.checked);
    if (t.matches("input.all-matching")) restoreSelection();
    if (t.matches("input.select-page, input.select-row, input.all-matching")) syncSelection();
  });

  document.addEventListener("click", function (evt) {
    var clear = evt.target instanceof Element && evt.target.closest("button.clear-selection");
    if (clear) clearSelection();
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

  function drawRowMenus(root) {
    drawRoleMenus(root).forEach(function (form) {
      if (window.htmx) window.htmx.process(form);
    });
  }

  // Swapped-in rows get their menus as soon as they are in the page, before they are painted:
  // htmx:load only comes once the swap has settled.
  document.addEventListener("htmx:afterSwap", function (evt) { drawRowMenus(evt.target); });

  function onLoad(root) {
    drawRowMenus(root);
    restoreSelection();
    syncSelection();
    var token = root.querySelector("input.token-text");
    if (token) token.select();
  }

  document.addEventListener("htmx:load", function (evt) { onLoad(evt.detail.elt); });
  // The page's rows get their menus now, before the first paint if the browser allows and
  // before htmx processes the page (it loads first, and starts when the document is ready).
  drawRoleMenus(document);
  if (!window.htmx) {
    document.addEventListener("DOMContentLoaded", function () { onLoad(document); });
  }
})();
