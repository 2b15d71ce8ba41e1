// Small helpers of every page (a static file: the Content-Security-Policy allows no inline script).
// 1. <time datetime="…"> elements: shown in the viewer's own time zone (the page says UTC).
// 2. Links with data-dialog open that <dialog> (a confirmation) instead of its fallback page.
(function () {
  let format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
  } catch (e) { return; }
  for (const el of document.querySelectorAll("time[datetime]")) {
    const moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) { continue; }
    el.textContent = format.format(moment);
  }
})();
(function () {
  for (const link of document.querySelectorAll("a[data-dialog]")) {
    const dialog = document.getElementById(link.dataset.dialog);
    if (!dialog || typeof dialog.showModal !== "function") { continue; }
    link.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.showModal();
    });
  }
})();
