// Small behaviours shared by every console page (no inline scripts: the CSP forbids them).

// An htmx answer with a 4xx status (an invalid change, a refused filter) carries the form
// and its messages: show it in place like any other answer (htmx drops them by default).
document.body.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status >= 400 && status < 500 && event.detail.xhr.responseText) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Theme switch.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-theme-toggle]");
  if (!toggle) return;
  const root = document.documentElement;
  root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("baas-theme", root.dataset.theme);
});

// Typed confirmation: a submit button stays disabled until its input holds the expected text.
document.addEventListener("input", (event) => {
  const input = event.target.closest("[data-confirm-text]");
  if (!input) return;
  const button = input.form && input.form.querySelector("[data-confirm-submit]");
  if (button) button.disabled = input.value !== input.dataset.confirmText;
});

// Dialogs: <button data-open-dialog="id"> and <button data-close-dialog>.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.openDialog);
    if (dialog) dialog.showModal();
    return;
  }
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) closer.closest("dialog")?.close();
});

// Copy to clipboard: <button data-copy="#selector">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
});
