// Live progress bars on the dashboard: poll each connector's progress endpoint; reload the
// page when a run has finished (or a run finished that the page does not show yet, or the page
// was drawn between a run's end and the commit of its final status, and still shows it running).
(function () {
  const bars = document.querySelectorAll("progress[data-progress]");
  if (!bars.length) { return; }
  let wasRunning = {};
  // Once per run: a row left "running" by a process that died must not reload forever.
  function drawnTooEarly(name, bar) {
    if (bar.dataset.rowStatus !== "running") { return false; }
    const key = "idpsync-reloaded-" + name + "-" + bar.dataset.lastRun;
    try {
      if (window.sessionStorage.getItem(key)) { return false; }
      window.sessionStorage.setItem(key, "1");
    } catch (e) { return false; }
    return true;
  }
  async function poll() {
    for (const bar of bars) {
      const name = bar.dataset.progress;
      const text = document.querySelector('[data-progress-text="' + CSS.escape(name) + '"]');
      try {
        const r = await fetch("/api/connectors/" + encodeURIComponent(name) + "/progress",
                              {credentials: "same-origin"});
        if (!r.ok) { continue; }
        const p = await r.json();
        if (p.running) {
          wasRunning[name] = true;
          bar.className = "bar bar-running";  // the last run's colour is no longer news
          if (p.percent === null) { bar.removeAttribute("value"); } else { bar.value = p.percent; }
          text.textContent = p.message;
        } else if (wasRunning[name] || String(p.last_run_id || "") !== bar.dataset.lastRun ||
                   drawnTooEarly(name, bar)) {
          window.location.reload();
        }
      } catch (e) { /* try again on the next tick */ }
    }
  }
  setInterval(poll, 500);
  poll();
})();
