// Live progress bars on the dashboard: poll each connector's progress endpoint.
(function () {
  const bars = document.querySelectorAll("progress[data-progress]");
  if (!bars.length) { return; }
  let wasRunning = {};
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
          if (p.percent === null) { bar.removeAttribute("value"); } else { bar.value = p.percent; }
          text.textContent = p.message;
        } else if (wasRunning[name]) {
          window.location.reload();
        }
      } catch (e) { /* try again on the next tick */ }
    }
  }
  setInterval(poll, 500);
  poll();
})();
