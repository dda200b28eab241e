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
    if (busy || document.hidden || editing) {
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
