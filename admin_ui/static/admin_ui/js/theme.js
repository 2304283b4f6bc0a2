// Applied before the page paints: the saved theme, else the system's.
(() => {
  const saved = localStorage.getItem("baas-theme");
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
})();
