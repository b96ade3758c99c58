// Progressive enhancement only: every page works without this file.
// After an htmx swap, move focus to the new content's heading so screen readers follow along.
document.addEventListener("htmx:afterSwap", function (event) {
  var heading = event.detail.target.querySelector("h1, h2, [data-focus]");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
});
