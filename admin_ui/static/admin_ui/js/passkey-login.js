// The console's passkey step: WebAuthn options from the server, the browser's assertion back.
const button = document.querySelector("[data-passkey-login]");
const error = document.querySelector("[data-passkey-error]");
const csrf = () => JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];

function fail(message) {
  error.textContent = message;
  error.hidden = false;
}

button?.addEventListener("click", async () => {
  error.hidden = true;
  try {
    const options = await (await fetch("/console/login/passkey/", { credentials: "same-origin" })).json();
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    const answer = await fetch(`/console/login/passkey/?next=${encodeURIComponent(button.dataset.next)}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(credential.toJSON()),
    });
    const body = await answer.json();
    if (!answer.ok) return fail(body.error || "That passkey was not accepted.");
    window.location.assign(body.location);
  } catch (exc) {
    fail("The passkey step did not complete. Try again.");
  }
});
