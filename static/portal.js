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
// On a phone tables show each row as a card (portal.css): label every cell with its column's header,
// unless the template already did. Chromium drops a table's roles once its rows are display: block, so
// screen readers would no longer hear a table: the roles are stated outright.
var ROLES = { TABLE: "table", THEAD: "rowgroup", TBODY: "rowgroup", TFOOT: "rowgroup", TR: "row", TD: "cell" };
function tableRoles(table) {
  table.querySelectorAll("thead, tbody, tfoot, tr, td, th").forEach(function (el) {
    if (el.closest("table") !== table || el.hasAttribute("role")) return;
    if (el.tagName === "TH") el.setAttribute("role", el.closest("thead") || el.scope === "col" ? "columnheader" : "rowheader");
    else el.setAttribute("role", ROLES[el.tagName]);
  });
  if (!table.hasAttribute("role")) table.setAttribute("role", "table");
}
function labelCells(root) {
  if (root.tagName === "TABLE") root = root.parentNode;
  root.querySelectorAll("table").forEach(function (table) {
    tableRoles(table);
    var names = [];
    table.querySelectorAll("thead th").forEach(function (th) {
      var shown = th.cloneNode(true);
      shown.querySelectorAll(".visually-hidden").forEach(function (hidden) { hidden.remove(); });
      for (var i = 0; i < (th.colSpan || 1); i++) names.push(shown.textContent.trim());
    });
    if (!names.length) return;
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var column = 0;
      Array.prototype.forEach.call(tr.children, function (cell) {
        if (!cell.hasAttribute("data-label") && names[column]) cell.setAttribute("data-label", names[column]);
        column += cell.colSpan || 1;
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", function () { labelCells(document); });
document.addEventListener("htmx:afterSettle", function (event) { labelCells(event.detail.elt.closest("table") || event.detail.elt); });
