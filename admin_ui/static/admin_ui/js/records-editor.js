// The record editor: JSON fields checked as typed, the relation picker's choices.

function checkJson(area) {
  const status = document.getElementById(area.getAttribute("aria-describedby").split(" ")[0]);
  const text = area.value.trim();
  if (text === "") {
    status.textContent = "Empty: no value.";
    area.removeAttribute("aria-invalid");
    return;
  }
  try {
    JSON.parse(text);
    status.textContent = "Valid JSON.";
    status.classList.remove("bad");
    area.removeAttribute("aria-invalid");
  } catch (error) {
    status.textContent = `Not valid JSON: ${error.message}`;
    status.classList.add("bad");
    area.setAttribute("aria-invalid", "true");
  }
}

for (const area of document.querySelectorAll("textarea[data-json]")) {
  area.addEventListener("input", () => checkJson(area));
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-pick]");
  if (!button) return;
  const picker = button.closest("[data-picker]");
  const input = document.getElementById(picker.dataset.picker);
  const id = button.dataset.pick;
  if (picker.dataset.multiple === "true") {
    const ids = input.value.split(/[\s,]+/).filter(Boolean);
    if (!ids.includes(id)) ids.push(id);
    input.value = ids.join(", ");
  } else {
    input.value = id;
  }
  button.disabled = true;
  button.firstChild.textContent = "Chosen ";
  input.dispatchEvent(new Event("change", { bubbles: true }));
});
