// Mark a pick posted / skipped: POST the feedback with an Idempotency-Key that stays the same
// for retries of the same tap (the cookie carries the key; nothing secret is in the page).
// What it says comes from the page's data-msg-* attributes, in the page's language.
(function () {
  "use strict";
  function msg(name, fallback) {
    return (document.body && document.body.dataset[name]) || fallback;
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  async function send(button) {
    const card = button.closest(".pick");
    const action = button.dataset.action;
    const slot = "key_" + action;
    if (!card.dataset[slot]) card.dataset[slot] = newKey();
    const status = card.querySelector(".status");
    card.querySelectorAll("button").forEach((b) => (b.disabled = true));
    status.textContent = "…";
    try {
      const res = await fetch("/v1/groups/" + encodeURIComponent(card.dataset.group) + "/feedback", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Idempotency-Key": card.dataset[slot] },
        body: JSON.stringify({ product_id: card.dataset.product, action: action }),
      });
      if (res.status === 202) {
        card.classList.remove("done-posted", "done-skip");
        card.classList.add("done-" + action);
        status.textContent = action === "posted" ? msg("msgPosted", "posted ✓") : msg("msgSkip", "skipped");
      } else {
        const body = await res.json().catch(() => ({}));
        status.textContent = msg("msgFailed", "failed:") + " " + (body.detail || res.status);
      }
    } catch (err) {
      status.textContent = msg("msgNetwork", "network error, tap again");
    } finally {
      card.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  }
  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("button[data-action]");
    if (button) send(button);
  });
})();
