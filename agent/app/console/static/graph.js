// The graph page's live view: every few seconds, how many calls are at each node now
// (GET /api/v1/graph/live, from the records the servers write as calls go). Only the badges
// and the summary change: an admin's edit in the editor below is never touched.
"use strict";

(() => {
  const EVERY_MS = 5000;
  const summary = document.getElementById("live-summary");
  if (!summary || !document.getElementById("graph")) return;

  async function refresh() {
    let live;
    try {
      const response = await fetch("/api/v1/graph/live", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      live = await response.json();
    } catch (error) {
      summary.textContent = "Live view paused: the console did not answer.";
      return;
    }
    for (const badge of document.querySelectorAll("#graph text.live")) {
      const n = live.nodes[badge.dataset.node] || 0;
      badge.textContent = n === 0 ? "" : n === 1 ? "1 call here" : `${n} calls here`;
    }
    summary.textContent = live.calls === 0 ? "No calls in progress."
      : `${live.calls} call${live.calls === 1 ? "" : "s"} in progress.`;
    summary.dataset.updated = String(Date.now());
  }

  refresh();
  setInterval(refresh, EVERY_MS);
})();
