// The import form: post the file, read the server's NDJSON progress lines as they come
// ({"done", "total", "created", "failed"} every 100 rows, then the summary with the
// refused rows' errors) and show them in a <progress> bar and a live status text.
// Without fetch streams the form posts as a plain form and the server answers the page.
import { csrfToken } from "./records-common.js";

const form = document.getElementById("import-form");
const box = document.getElementById("import-progress-box");
const bar = document.getElementById("import-bar");
const status = document.getElementById("import-progress");
const errorLine = document.getElementById("import-error");
const number = (n) => Number(n || 0).toLocaleString("en-US");
const plural = (n, word) => `${word}${n === 1 ? "" : "s"}`;

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = !message;
}

function showProgress(line) {
  bar.max = Math.max(1, line.total);
  bar.value = line.done;
  const rows = `${number(line.done)} of ${number(line.total)} ${plural(line.total, "row")}`;
  const counts = `${number(line.created)} created, ${number(line.failed)} refused`;
  const text = line.finished ? `Done: ${rows} (${counts}).` : `${rows}… (${counts})`;
  status.textContent = text;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function renderResult(summary) {
  const card = element("div", undefined, "card");
  card.id = "import-result";
  card.append(element("h2", "Result"));
  if (summary.error) {
    const alert = element("p", summary.error, "error");
    alert.setAttribute("role", "alert");
    card.append(alert);
  }
  const counts = element("p");
  counts.append(
    element("strong", number(summary.created)),
    ` of ${number(summary.total)} ${plural(summary.total, "row")} created`,
  );
  if (summary.failed) counts.append(", ", element("strong", number(summary.failed)), " refused");
  counts.append(".");
  card.append(counts);
  if (summary.errors && summary.errors.length) {
    const wrap = element("div", undefined, "table-wrap");
    const table = element("table", undefined, "grid import-errors");
    const head = table.createTHead().insertRow();
    for (const title of ["Row", "Errors"]) {
      const th = element("th", title);
      th.scope = "col";
      head.append(th);
    }
    const body = table.createTBody();
    for (const failure of summary.errors) {
      const row = body.insertRow();
      row.insertCell().textContent = String(failure.row);
      const cell = row.insertCell();
      for (const text of failure.errors) cell.append(element("div", text));
    }
    wrap.append(table);
    card.append(wrap);
    if (summary.more_errors) card.append(element("p", `and ${number(summary.more_errors)} more.`, "hint"));
  }
  document.getElementById("import-result")?.remove();
  form.closest(".card").after(card);
}

async function refusal(response) {
  try {
    const body = await response.json();
    if (body.error) return typeof body.error === "string" ? body.error : body.error.message;
  } catch {
    // not JSON: fall through
  }
  return response.status === 403
    ? "The console session ended: sign in again and retry."
    : `The import failed (HTTP ${response.status}).`;
}

async function run() {
  const buttons = form.querySelectorAll("button[type=submit]");
  const file = document.getElementById("import-file");
  const data = new FormData(form); // before the input is disabled (a disabled one is not sent)
  for (const button of buttons) button.disabled = true;
  file.disabled = true;
  showError("");
  document.getElementById("import-result")?.remove();
  box.hidden = false;
  bar.removeAttribute("value"); // indeterminate until the server counted the rows
  status.textContent = "Uploading and reading the file…";
  let last = null;
  try {
    const response = await fetch(form.action || window.location.href, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/x-ndjson", "X-CSRFToken": csrfToken() },
    });
    if (!response.ok) {
      box.hidden = true;
      showError(await refusal(response));
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += value;
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const text of lines) {
        if (!text.trim()) continue;
        last = JSON.parse(text);
        showProgress(last);
      }
    }
    if (last && last.finished) {
      renderResult(last);
    } else {
      const where = last ? `after ${number(last.done)} of ${number(last.total)} rows` : "";
      showError(
        `The import was cut off ${where}: the rows before were created. Check the records before importing the file again.`,
      );
    }
  } catch (error) {
    const where = last ? ` after ${number(last.done)} of ${number(last.total)} rows` : "";
    showError(`The import was interrupted${where}: ${error}. Check the records before importing again.`);
  } finally {
    for (const button of buttons) button.disabled = false;
    file.disabled = false;
  }
}

if (form && window.ReadableStream && window.TextDecoderStream && window.fetch) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
}
