// Files, push, realtime and settings pages: small progressive enhancements only.

// The push send form: the target's hint follows the chosen kind of target.
for (const form of document.querySelectorAll("#push-send-form")) {
  const hint = form.querySelector("#push-target-hint");
  form.addEventListener("change", (event) => {
    const radio = event.target;
    if (radio.name === "kind" && radio.checked && hint) {
      hint.textContent = radio.dataset.targetHint || "";
    }
  });
}
