// Schema editor: show the options of a field's chosen type, add new field rows.

function showOptions(select) {
  const row = select.closest("[data-field-row]");
  if (!row) return;
  for (const group of row.querySelectorAll("[data-options-for]")) {
    group.hidden = group.dataset.optionsFor !== select.value;
  }
}

document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-type-select]");
  if (select) showOptions(select);
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-field]");
  if (!button) return;
  const form = button.closest("form");
  const counter = form.querySelector("[data-field-count]");
  const template = document.getElementById("new-field-template");
  const list = form.querySelector("[data-field-list]");
  const index = String(Number(counter.value));
  const row = template.content.firstElementChild.cloneNode(true);
  for (const element of row.querySelectorAll("[id], [name], [for]")) {
    for (const attribute of ["id", "name", "for"]) {
      const value = element.getAttribute(attribute);
      if (value) element.setAttribute(attribute, value.replaceAll("__i__", index));
    }
  }
  counter.value = String(Number(index) + 1);
  list.querySelector("[data-no-fields]")?.remove();
  list.append(row);
  row.querySelector("input[name$='-name']").focus();
});

// A new preview starts clean: the messages next to field rows belong to the last one.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.target.id !== "schema-form") return;
  for (const message of document.querySelectorAll("[data-field-errors]")) {
    message.textContent = "";
  }
});
