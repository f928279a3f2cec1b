// Mark a pick posted / skipped / not interested: POST the feedback with an Idempotency-Key that stays the same
// for retries of the same tap (the cookie carries the key; nothing secret is in the page).
// What it says comes from the page's data-msg-* / data-err-* attributes, in the page's language.
(function () {
  "use strict";
  function msg(name, fallback) {
    return (document.body && document.body.dataset[name]) || fallback;
  }
  // a refused tap is said by its error code (else its status) in the page's words; the API's English
  // detail is for scripts and support: it goes to the status's title and the console, not the text
  const BY_CODE = {
    not_in_picks: "errRefresh", unknown_product: "errRefresh", stale_list: "errStale",
    missing_key: "errSignin", unknown_key: "errSignin", revoked_key: "errSignin",
    bad_authorization: "errSignin", unauthorized: "errSignin", not_yours: "errForbidden",
    wrong_role: "errForbidden", unknown_subject: "errForbidden", cross_site: "errForbidden",
    idempotency_conflict: "errConflict", rate_limited: "errBusy", too_many_requests: "errBusy",
    not_ready: "errUnavailable", snapshot_unavailable: "errUnavailable",
  };
  const BY_STATUS = { 401: "errSignin", 403: "errForbidden", 409: "errConflict", 429: "errBusy",
                      503: "errUnavailable" };
  function refusal(status, body) {
    const known = Object.prototype.hasOwnProperty.call(BY_CODE, body.error);
    const key = known ? BY_CODE[body.error] : BY_STATUS[status] || "errOther";
    return msg(key, msg("errOther", "not saved, tap again"));
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
    const buttons = Array.from(card.querySelectorAll("button"));
    const wasOff = buttons.map((b) => b.disabled); // a stale list's posted / skip stay off
    buttons.forEach((b) => (b.disabled = true));
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
        status.title = "";
        status.textContent =
          action === "posted" ? msg("msgPosted", "posted ✓")
          : action === "skip" ? msg("msgSkip", "skipped")
          : msg("msgNotInterested", "not interested: off this list");
      } else {
        const body = (await res.json().catch(() => null)) || {};
        const said = res.status + " " + (body.error || "") + ": " + (body.detail || "");
        console.warn("feedback refused:", said);
        status.title = said;
        status.textContent = refusal(res.status, body);
      }
    } catch (err) {
      status.title = String(err);
      status.textContent = msg("msgNetwork", "network error, tap again");
    } finally {
      buttons.forEach((b, i) => (b.disabled = wasOff[i]));
    }
  }
  // the group switcher: a GET form whose select goes at once (its button does without script)
  document.addEventListener("change", function (ev) {
    const select = ev.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });
  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("button[data-action]");
    if (button) send(button);
  });
})();
