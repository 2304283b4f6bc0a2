// Rules editor: mark a rule's textarea invalid when its check (htmx) fails, and keep the
// state badge ("Superusers only" / "Everyone" / "Expression") in step with the inputs.

function markTextarea(check) {
  const textarea = document.getElementById(check.dataset.for);
  if (!textarea) return;
  if (check.dataset.valid === "false") textarea.setAttribute("aria-invalid", "true");
  else textarea.removeAttribute("aria-invalid");
}

document.body.addEventListener("htmx:afterSettle", (event) => {
  const target = event.detail.elt;
  const checks = target.matches?.(".rule-check") ? [target] : [];
  document.querySelectorAll(".rule-check").forEach((check) => {
    if (!checks.includes(check)) checks.push(check);
  });
  checks.forEach(markTextarea);
});

function refreshSlot(slot) {
  const lock = slot.querySelector("[data-rule-lock]");
  const textarea = slot.querySelector("textarea");
  const state = slot.querySelector("[data-rule-state]");
  if (!lock || !textarea || !state) return;
  slot.classList.toggle("is-locked", lock.checked);
  if (lock.checked) state.textContent = "Superusers only";
  else state.textContent = textarea.value.trim() ? "Expression" : "Everyone";
  textarea.placeholder = lock.checked ? "Locked: only superusers" : "Empty: everyone";
}

document.addEventListener("input", (event) => {
  const slot = event.target.closest("[data-rule-slot]");
  if (slot) refreshSlot(slot);
});
document.addEventListener("change", (event) => {
  const slot = event.target.closest("[data-rule-slot]");
  if (slot) refreshSlot(slot);
});
