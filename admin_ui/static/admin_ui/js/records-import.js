// The import form: say that the import runs while the server works through the rows.
const form = document.getElementById("import-form");
if (form) {
  form.addEventListener("submit", () => {
    const progress = document.getElementById("import-progress");
    const file = document.getElementById("import-file").files[0];
    progress.hidden = false;
    progress.textContent = file
      ? `Importing ${file.name} (${Math.ceil(file.size / 1024)} KB)… each row is checked and created in turn.`
      : "Importing…";
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
  });
}
