// payhook console: the live event list. The first page of /console/events
// asks the server for its rows (same filters, part=rows) every 2 seconds
// and swaps them in; new rows are highlighted. Nothing else runs here.
"use strict";
(function () {
  const body = document.querySelector("tbody[data-rows='live']");
  const live = document.getElementById("live");
  if (!body || !live) return;
  const url = new URL(window.location.href);
  url.searchParams.set("part", "rows");
  let seen = new Set(Array.from(body.rows).map((r) => r.dataset.event));
  async function refresh() {
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!r.ok) throw new Error(String(r.status));
      const html = await r.text();
      const t = document.createElement("tbody");
      t.innerHTML = html;
      const rows = Array.from(t.rows);
      const ids = rows.map((x) => x.dataset.event).join(",");
      const now = Array.from(body.rows).map((x) => x.dataset.event).join(",");
      if (ids !== now) {
        for (const row of rows) {
          if (row.dataset.event && !seen.has(row.dataset.event)) row.classList.add("fresh");
        }
        body.replaceChildren(...rows);
        seen = new Set(rows.map((x) => x.dataset.event));
      }
      live.dataset.live = "on";
      live.textContent = "live, updated " + new Date().toLocaleTimeString();
    } catch (e) {
      live.dataset.live = "off";
      live.textContent = "live updates paused (" + e.message + ")";
    }
  }
  setInterval(refresh, 2000);
})();
