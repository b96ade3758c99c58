// Progressive enhancement only: every page works without this file.
// After an htmx swap, move focus to the new content's heading so screen readers follow along.
document.addEventListener("htmx:afterSwap", function (event) {
  var heading = event.detail.target.querySelector("h1, h2, [data-focus]");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
});

// The time-zone form: while the account still shows times in UTC (never chosen), suggest the zone
// the browser is set to by choosing it, and say so. Nothing is saved until the person submits.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.querySelector("select[data-browser-zone]");
  if (!select || select.value !== "UTC" || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var option = zone && zone !== "UTC" && select.querySelector('option[value="' + zone.replace(/"/g, "") + '"]');
  if (!option) return;
  option.selected = true;
  var note = document.getElementById("time_zone-browser");
  if (note) {
    note.querySelector("strong").textContent = zone;
    note.hidden = false;
  }
});
