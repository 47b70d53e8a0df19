// Coral dashboard: local times (UTC on hover), live refresh, the streamed ask box.
// No libraries.
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

// Live refresh every 15 s; `?refresh=SECONDS` (1-3600) on a page's URL changes that.
function refreshMs() {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return asked >= 1 && asked <= 3600 ? asked * 1000 : 15000;
}

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
    const asking = document.querySelector("#ask[data-busy]");
    if (fresh && !asking && !(answer && answer.textContent)) {
      live.innerHTML = fresh.innerHTML;
      localTimes(live);
      wireAsk();
    }
  } catch (e) { /* the colony may be restarting: try again next time */ }
}

// The ask box: the colony streams its answer as JSON lines (progress, text, note, then
// done or error); the answer grows as they come.
function showEvent(event, out, status) {
  if (event.progress) status.textContent = event.progress;
  if (event.note) status.textContent = "! " + event.note;
  if (event.text) out.append(event.text);
  if (event.error) {
    out.textContent = "Error: " + event.error + (event.hint ? " (" + event.hint + ")" : "");
    status.textContent = "";
  }
  if (event.done) {
    const done = event.done;
    out.textContent = done.answer;
    status.textContent = "Answered by " + done.provider +
      (done.fallback ? " (the model gave no answer: " + done.fallback + ")" : "");
    const link = document.createElement("a");
    const id = done.investigation || done.ask;
    link.href = "/investigations/" + encodeURIComponent(id);
    link.textContent = done.investigation ? "\n\nOpen this investigation"
                                          : "\n\nOpen this conversation";
    out.appendChild(link);
  }
}

async function readLines(response, each) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, cut);
      buffered = buffered.slice(cut + 1);
      if (line.trim()) each(JSON.parse(line));
    }
  }
}

function wireAsk() {
  const form = document.getElementById("ask");
  if (!form || form.dataset.wired) return;
  form.dataset.wired = "1";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = document.getElementById("answer");
    const status = document.getElementById("ask-status");
    const button = form.querySelector("button");
    button.disabled = true;
    form.dataset.busy = "1";
    out.textContent = "";
    status.textContent = "Investigating…";
    const csrf = document.querySelector("meta[name=csrf]");
    try {
      const got = await fetch("/ask", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json",
                   "X-CSRF-Token": csrf ? csrf.content : "" },
        body: JSON.stringify({ question: form.question.value, range: form.range.value }),
      });
      if ((got.headers.get("content-type") || "").startsWith("application/x-ndjson")) {
        await readLines(got, (event) => showEvent(event, out, status));
      } else {
        const doc = await got.json().catch(() => ({ error: "HTTP " + got.status }));
        showEvent({ error: doc.error || "HTTP " + got.status, hint: doc.hint }, out, status);
      }
    } catch (e) {
      out.textContent = "The colony did not answer: " + e;
      status.textContent = "";
    } finally {
      button.disabled = false;
      delete form.dataset.busy;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  wireAsk();
  setInterval(refresh, refreshMs());
});
