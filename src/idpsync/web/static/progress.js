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
  function duration(seconds) {
    const whole = Math.round(seconds);
    const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
    if (h) { return h + " h " + String(m).padStart(2, "0") + " min"; }
    if (m) { return m + " min " + String(s).padStart(2, "0") + " s"; }
    return s + " s";
  }
  // "reading people.json · 120 / 400 (30 %) · about 1 min 05 s left"
  function describe(p) {
    let text = p.message || p.phase || "running";
    if (p.total) {
      text += " · " + (p.done || 0) + " / " + p.total;
      if (p.percent !== null) { text += " (" + Math.round(p.percent) + " %)"; }
    }
    if (p.eta_seconds !== null && p.eta_seconds !== undefined) {
      text += " · about " + duration(p.eta_seconds) + " left";
    }
    return text;
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
          text.textContent = describe(p);
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
