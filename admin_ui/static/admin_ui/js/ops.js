// Jobs, webhooks and audit pages: small behaviours (the CSP forbids inline scripts).

// Schedule form: only the chosen timing (cron or interval) can be typed in.
function syncTiming(form) {
  const chosen = form.querySelector("input[name=timing]:checked");
  if (!chosen) return;
  for (const name of ["cron", "every"]) {
    const input = form.querySelector(`[name=${name}]`);
    if (input) input.disabled = chosen.value !== name;
  }
}

for (const form of document.querySelectorAll("form[data-schedule-form]")) {
  syncTiming(form);
  form.addEventListener("change", (event) => {
    if (event.target.name === "timing") {
      syncTiming(form);
      const input = form.querySelector(`[name=${event.target.value}]`);
      if (input) input.focus();
    }
  });
}
