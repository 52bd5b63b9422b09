// The rating page's keys: 1-4 rate, 5 unusable, s skip, u undo, arrows move.
// Writes are JSON posts with the session's CSRF token (the server refuses anything else).
(function () {
  "use strict";
  const body = document.body;
  const csrf = body.dataset.csrf;
  const index = Number(body.dataset.index);
  const total = Number(body.dataset.total);
  const imageId = body.dataset.imageId ? Number(body.dataset.imageId) : null;
  let busy = false;

  function status(text) { document.getElementById("status").textContent = text; }
  function go(i) { window.location.assign("/?i=" + Math.max(0, Math.min(total, i))); }

  async function post(url, payload) {
    busy = true;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(payload),
        credentials: "same-origin",
      });
      const data = await response.json();
      if (!response.ok) { status(data.error || "refused"); busy = false; return null; }
      return data;
    } catch (err) {
      status("not saved: " + err); busy = false; return null;
    }
  }

  document.addEventListener("keydown", async function (event) {
    if (busy || event.ctrlKey || event.metaKey || event.altKey) { return; }
    const key = event.key;
    if (/^[1-5]$/.test(key) && imageId !== null) {
      event.preventDefault();
      const data = await post("/api/rate", { image_id: imageId, rating: Number(key) });
      if (data) { go(data.next); }
    } else if (key === "u") {
      event.preventDefault();
      const data = await post("/api/undo", {});
      if (data) { go(data.index); }
    } else if (key === "s" || key === "ArrowRight") {
      event.preventDefault(); go(index + 1);
    } else if (key === "ArrowLeft") {
      event.preventDefault(); go(index - 1);
    }
  });
}());
