// The back office's one script: confirmations, and the projections pages' live figures.
"use strict";

// A form with data-confirm asks first (its text is an attribute: escaped, never code).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// Follows the projections' figures (GET status.json, any worker answers from the database).
async function follow() {
  try {
    const answer = await fetch("/admin/projections/status.json", {credentials: "same-origin"});
    if (!answer.ok) return;
    const {projections} = await answer.json();
    for (const p of projections) {
      const row = document.querySelector(`[data-name="${p.name}"]`);
      if (!row) continue;
      for (const cell of row.querySelectorAll("[data-field]")) {
        const field = cell.dataset.field;
        if (field === "state") {
          const badge = cell.querySelector(".status");
          badge.textContent = p.state;
          badge.className = "status " + p.state.replaceAll(" ", "-");
        } else if (field === "rebuild") {
          cell.replaceChildren();
          if (p.rebuild_target) {
            const bar = document.createElement("progress");
            bar.max = p.rebuild_target;
            bar.value = p.rebuild_position || 0;
            const words = document.createElement("span");
            words.className = "muted";
            words.textContent = ` ${p.rebuild_position || 0} / ${p.rebuild_target}`;
            cell.append(bar, words);
          } else {
            const words = document.createElement("span");
            words.className = "muted";
            words.textContent = "none running";
            cell.append(words);
          }
        } else if (field === "lease") {
          cell.textContent = p.lease || "none";
        } else {
          cell.textContent = p[field];
        }
      }
    }
  } catch (error) {
    // The next tick tries again: a worker restarting is not the page's failure.
  }
}
if (document.querySelector("[data-live]")) setInterval(follow, 1000);
