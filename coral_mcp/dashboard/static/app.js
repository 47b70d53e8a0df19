// Coral dashboard: local times (UTC on hover), live refresh, the ask box. No libraries.
"use strict";

function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at)) {
      el.textContent = at.toLocaleString();
      el.title = el.getAttribute("datetime") + " (UTC)";
    }
  }
}

const REFRESH_MS = 15000;

async function refresh() {
  const live = document.getElementById("live");
  if (!live || document.hidden || live.contains(document.activeElement)) return;
  try {
    const got = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (got.status === 401) { location.reload(); return; }
    if (!got.ok) return;
    const doc = new DOMParser().parseFromString(await got.text(), "text/html");
    const fresh = doc.getElementById("live");
    const answer = document.getElementById("answer");
    if (fresh && !(answer && answer.textContent)) {
      live.innerHTML = fresh.innerHTML;
      localTimes(live);
      wireAsk();
    }
  } catch (e) { /* the colony may be restarting: try again next time */ }
}

function wireAsk() {
  const form = document.getElementById("ask");
  if (!form || form.dataset.wired) return;
  form.dataset.wired = "1";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = document.getElementById("answer");
    const button = form.querySelector("button");
    button.disabled = true;
    out.textContent = "Investigating…";
    const csrf = document.querySelector("meta[name=csrf]");
    try {
      const got = await fetch("/ask", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json",
                   "X-CSRF-Token": csrf ? csrf.content : "" },
        body: JSON.stringify({ question: form.question.value, range: form.range.value }),
      });
      const doc = await got.json();
      out.textContent = doc.error ? "Error: " + doc.error + (doc.hint ? " (" + doc.hint + ")" : "")
                                  : doc.answer;
      if (doc.investigation) {
        const link = document.createElement("a");
        link.href = "/investigations/" + encodeURIComponent(doc.investigation);
        link.textContent = "\n\nOpen this investigation";
        out.appendChild(link);
      }
    } catch (e) {
      out.textContent = "The colony did not answer: " + e;
    } finally {
      button.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  wireAsk();
  setInterval(refresh, REFRESH_MS);
});
