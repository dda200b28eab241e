// Live regions: each element marked data-live is fetched again every few seconds and swapped
// for the fresh copy, so a timeline or a listing follows what happens without a reload.
// Without JavaScript the pages are the same, refreshed by hand.
"use strict";
(function () {
  const EVERY_MS = 3000;
  if (!document.querySelector("[data-live]")) {
    return;
  }
  let busy = false;
  async function refresh() {
    const focused = document.activeElement;
    const editing = focused && focused.closest("[data-live]") && focused.matches("input, select, textarea");
    // Alerts ticked for an action hold the listing still: a fresh copy would untick them.
    const selecting = document.querySelector("[data-live] input[type=checkbox]:checked");
    if (busy || document.hidden || editing || selecting) {
      return;
    }
    busy = true;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok || response.redirected) {
        return; // logged out or an error: leave the page as it is
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const next = fresh.querySelectorAll("[data-live]");
      document.querySelectorAll("[data-live]").forEach(function (region, index) {
        if (next[index] && next[index].innerHTML !== region.innerHTML) {
          region.replaceWith(document.importNode(next[index], true));
        }
      });
    } catch (error) {
      // the server is restarting or the network is away: try again next time
    } finally {
      busy = false;
    }
  }
  window.setInterval(refresh, EVERY_MS);
})();

// Selecting alerts on the alerts page. Without JavaScript a group's "select all" box carries
// the ids of the whole group (and the page's box those of the whole page); here ticking one
// ticks the alerts it stands for, and it shows whether all, some or none of them are ticked,
// so what is sent is exactly what is ticked.
(function () {
  const ALERT = "input[data-select]";
  const SCOPES = "input[data-select-group], input[data-select-all]";
  if (!document.querySelector(ALERT)) {
    return;
  }
  function members(box) {
    const scope = box.matches("[data-select-all]") ? box.closest("table") : box.closest("tbody");
    return scope ? Array.from(scope.querySelectorAll(ALERT)) : [];
  }
  function settle() {
    document.querySelectorAll(SCOPES).forEach(function (box) {
      const alerts = members(box);
      const ticked = alerts.filter(function (one) { return one.checked; }).length;
      box.checked = alerts.length > 0 && ticked === alerts.length;
      box.indeterminate = ticked > 0 && ticked < alerts.length;
    });
    const ids = new Set();
    document.querySelectorAll(ALERT + ":checked").forEach(function (one) { ids.add(one.value); });
    const shown = document.querySelector("[data-selected]");
    if (shown) {
      shown.textContent = ids.size ? ids.size + " selected:" : "With the alerts ticked below:";
    }
  }
  document.addEventListener("change", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement)) {
      return;
    }
    if (box.matches(SCOPES)) {
      members(box).forEach(function (one) { one.checked = box.checked; });
    }
    if (box.matches(SCOPES) || box.matches(ALERT)) {
      settle();
    }
  });
  settle();
})();
