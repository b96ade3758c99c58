// Progressive enhancement only: every page works without this file.
// After an htmx swap, move focus to the new content's heading so screen readers follow along.
document.addEventListener("htmx:afterSwap", function (event) {
  var heading = event.detail.target.querySelector("h1, h2, [data-focus]");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
});

// On a phone tables show each row as a card (portal.css): label every cell with its column's header,
// unless the template already did.
function labelCells(root) {
  root.querySelectorAll("table").forEach(function (table) {
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
