// The records grid: selection for bulk delete, export progress, live updates over the
// realtime socket (a bar offering a refresh; deleted rows are marked at once).
import { csrfToken } from "./records-common.js";

function root() {
  return document.getElementById("records");
}

// --- selection -------------------------------------------------------------------------
function selected() {
  return [...document.querySelectorAll('input[name="ids"][form="bulk"]:checked')];
}

function updateSelection() {
  const count = selected().length;
  const bar = document.getElementById("bulk-bar");
  if (!bar) return;
  bar.hidden = count === 0;
  const text = `${count} record${count === 1 ? "" : "s"}`;
  document.getElementById("bulk-count").textContent = `${text} selected`;
  const inDialog = document.getElementById("bulk-dialog-count");
  if (inDialog) inDialog.textContent = text;
}

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.id === "select-all") {
    for (const box of document.querySelectorAll('input[name="ids"][form="bulk"]')) {
      box.checked = target.checked;
    }
  }
  if (target.id === "select-all" || target.name === "ids") updateSelection();
});
document.body.addEventListener("htmx:afterSettle", updateSelection);

// --- export with progress ---------------------------------------------------------------
function currentFilter() {
  const input = document.getElementById("filter");
  return input ? input.value : "";
}

document.addEventListener("click", async (event) => {
  const link = event.target.closest("a[data-export]");
  if (!link || !window.ReadableStream) return;
  event.preventDefault();
  const format = link.dataset.export;
  const filter = currentFilter();
  const url = new URL(link.getAttribute("href"), window.location.href);
  url.search = filter ? `?filter=${encodeURIComponent(filter)}` : "";
  const progress = document.getElementById("export-progress");
  progress.hidden = false;
  progress.textContent = "Exporting…";
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      progress.textContent = `Export failed: ${await response.text()}`;
      return;
    }
    const total = Number(root()?.dataset.total || 0);
    const reader = response.body.getReader();
    const chunks = [];
    let lines = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      for (const byte of value) if (byte === 10) lines += 1;
      const rows = Math.max(0, lines - 1);
      progress.textContent = total
        ? `Exporting… ${Math.min(rows, total)} of ${total} records`
        : `Exporting… ${rows} records`;
    }
    const name = (response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
    const blob = new Blob(chunks, { type: response.headers.get("Content-Type") || "" });
    const href = URL.createObjectURL(blob);
    const save = document.createElement("a");
    save.href = href;
    save.download = name ? name[1] : `export.${format}`;
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(href), 10_000);
    progress.textContent = "Export finished.";
  } catch (error) {
    progress.textContent = `Export failed: ${error}`;
  }
});

// --- live updates -----------------------------------------------------------------------
const changes = { create: 0, update: 0, delete: 0 };
const ownEdits = new Set(); // rows just saved inline here: their event is no news

document.body.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (!(form instanceof HTMLFormElement) || !form.matches(".cell-form")) return;
  if (!event.detail.successful) return;
  const id = form.closest("tr")?.dataset.id;
  if (id) {
    ownEdits.add(id);
    setTimeout(() => ownEdits.delete(id), 5000);
  }
});

function showChanges() {
  const bar = document.getElementById("live-bar");
  const parts = [];
  if (changes.create) parts.push(`${changes.create} new`);
  if (changes.update) parts.push(`${changes.update} changed`);
  if (changes.delete) parts.push(`${changes.delete} deleted`);
  if (!bar || parts.length === 0) return;
  document.getElementById("live-text").textContent =
    `${parts.join(", ")} record${changes.create + changes.update + changes.delete === 1 ? "" : "s"} since this page loaded.`;
  const refresh = document.getElementById("live-refresh");
  refresh.setAttribute("href", window.location.pathname + window.location.search);
  bar.hidden = false;
}

function onEvent(frame) {
  const id = frame.record && frame.record.id;
  if (frame.action === "update" && ownEdits.has(id)) return;
  const row = id ? document.querySelector(`tr[data-id="${CSS.escape(id)}"]`) : null;
  if (frame.action === "delete" && row) row.classList.add("gone");
  if (frame.action === "update" && row) row.classList.add("changed");
  if (frame.action in changes) changes[frame.action] += 1;
  showChanges();
}

async function token() {
  const response = await fetch("/console/realtime-token/", {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken() },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`token: ${response.status}`);
  return (await response.json()).token;
}

async function connect(delay = 1000) {
  const collection = root()?.dataset.collection;
  if (!collection) return;
  let socket;
  try {
    const auth = await token();
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${window.location.host}/api/v1/realtime`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: auth }));
    });
  } catch {
    setTimeout(() => connect(Math.min(delay * 2, 30_000)), delay);
    return;
  }
  let refreshTimer = null;
  socket.addEventListener("message", (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "authenticated") {
      socket.send(JSON.stringify({ type: "subscribe", id: "grid", topic: collection }));
      if (refreshTimer) clearInterval(refreshTimer);
      refreshTimer = setInterval(async () => {
        try {
          socket.send(JSON.stringify({ type: "auth", token: await token() }));
        } catch {
          /* the next reconnect tries again */
        }
      }, 10 * 60 * 1000);
    } else if (frame.type === "subscribed") {
      root()?.setAttribute("data-live", "on");
    } else if (frame.type === "event") {
      onEvent(frame);
    }
  });
  socket.addEventListener("close", () => {
    root()?.setAttribute("data-live", "off");
    if (refreshTimer) clearInterval(refreshTimer);
    setTimeout(() => connect(Math.min(delay * 2, 30_000)), delay);
  });
}

connect();

// --- keyboard for inline edit: Escape cancels; after a save, focus stays on the cell ------
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const form = event.target.closest?.(".cell-form");
  if (!form) return;
  event.preventDefault();
  form.querySelector("button[type=button]")?.click();
});

document.body.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (target instanceof HTMLTableCellElement) {
    target.querySelector("button.cell-edit")?.focus();
  }
});
