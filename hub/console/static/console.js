// Progressive enhancement only: every page works without it.
// The dashboard refreshes its figures in place every few seconds.
(function () {
  const board = document.getElementById("board");
  if (!board || !window.fetch) return;
  const url = board.dataset.refresh;
  const every = (parseInt(board.dataset.every, 10) || 10) * 1000;
  async function refresh() {
    try {
      const reply = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (reply.ok && !reply.redirected) {
        board.innerHTML = await reply.text();
        board.dataset.refreshed = String(Date.now());
      }
    } catch (error) { /* keep the figures shown; try again next time */ }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();
