// Duragent web UI: live updates (one EventSource per page) and actions (POST with the
// session's CSRF token). No framework, no build step. Content always comes from the
// server's autoescaped templates; this script never turns payload text into HTML.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") || "";

  function toast(text, isError) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.className = isError ? "error" : "";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 3500);
  }

  // -- live updates ------------------------------------------------------------------------
  // A container with data-live-src (an SSE endpoint) and data-live-fragment (the same
  // content, server-rendered) is re-fetched when the stream reports a change.

  function parseFragment(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    return Array.from(doc.body.childNodes);
  }

  function keepState(container) {
    // What the user is doing must survive a refresh: open <details> and typed text.
    const open = new Set();
    container.querySelectorAll("details[open]").forEach((d, i) => open.add(d.id || "i" + i));
    const typed = new Map();
    container.querySelectorAll("input[type=text]").forEach((input) => {
      const form = input.closest("form");
      if (input.value && form) typed.set((form.dataset.action || "") + "|" + input.name, input.value);
    });
    const active = document.activeElement && container.contains(document.activeElement);
    return { open, typed, active };
  }

  function restoreState(container, state) {
    container.querySelectorAll("details").forEach((d, i) => {
      if (state.open.has(d.id || "i" + i)) d.open = true;
    });
    container.querySelectorAll("input[type=text]").forEach((input) => {
      const form = input.closest("form");
      const key = (form ? form.dataset.action || "" : "") + "|" + input.name;
      if (state.typed.has(key)) input.value = state.typed.get(key);
    });
  }

  function live(container) {
    const src = container.dataset.liveSrc;
    const fragment = container.dataset.liveFragment;
    if (!src || !fragment || !window.EventSource) return;
    let timer = null;
    let busy = false;
    let again = false;

    async function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const response = await fetch(fragment, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.ok) {
          const state = keepState(container);
          if (state.active && container.querySelector("input:focus")) {
            again = true; // do not pull the field from under the user's fingers
          } else {
            container.replaceChildren(...parseFragment(await response.text()));
            restoreState(container, state);
            container.dispatchEvent(new CustomEvent("duragent:updated", { bubbles: true }));
          }
        }
      } catch (err) {
        // the next change retries
      } finally {
        busy = false;
        if (again) { again = false; schedule(500); }
      }
    }

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(refresh, delay);
    }

    const source = new EventSource(src, { withCredentials: true });
    ["history", "run", "reset", "closed"].forEach((name) =>
      source.addEventListener(name, () => schedule(name === "closed" ? 0 : 120))
    );
    source.addEventListener("closed", () => source.close());
    container.dataset.liveState = "connected";
  }

  // -- live text: the run's durable token stream ------------------------------------------
  // #stream-slot (inside the conversation, re-rendered with it) names the run's SSE token
  // stream in data-stream-src while the run is running. One EventSource per page keeps the
  // text of each model call still being written, and re-renders it into whichever slot is
  // on the page. A reset (the call's attempt failed; a retry streams it again) clears that
  // call's text; a committed call's bubble goes once the conversation, re-rendered from
  // history, shows its answer. Text goes in with textContent only.

  function streamText(src) {
    const calls = new Map(); // call -> { attempt, text, resets, done }
    let frame = 0;
    let resets = 0;

    function bubble(call, c) {
      const li = document.createElement("div");
      li.className = "live-call" + (c.text ? "" : " is-empty");
      li.dataset.call = String(call);
      li.dataset.attempt = String(c.attempt || "");
      const who = document.createElement("div");
      who.className = "who";
      const pulse = document.createElement("span");
      pulse.className = "pulse";
      who.append(pulse, document.createTextNode(" writing"));
      const box = document.createElement("div");
      box.className = "bubble";
      if (c.attempt > 1 || c.resets) {
        const chip = document.createElement("span");
        chip.className = "chip warn";
        chip.textContent = c.attempt > 1 ? "attempt " + c.attempt : "retrying";
        box.append(chip);
      }
      const text = document.createElement("p");
      text.className = "text live-text";
      text.textContent = c.text;
      box.append(text);
      li.append(who, box);
      return li;
    }

    function render() {
      frame = 0;
      const slot = document.getElementById("stream-slot");
      if (!slot) return;
      const shown = [];
      for (const [call, c] of calls) {
        if (!c.done) shown.push(bubble(call, c));
      }
      slot.replaceChildren(...shown);
      slot.hidden = shown.length === 0;
      slot.dataset.resets = String(resets);
    }

    function schedule() {
      if (!frame) frame = requestAnimationFrame(render);
    }

    function call(data) {
      let c = calls.get(data.call);
      if (!c) { c = { attempt: 0, text: "", resets: 0, done: false }; calls.set(data.call, c); }
      return c;
    }

    const source = new EventSource(src, { withCredentials: true });
    source.addEventListener("text", (m) => {
      const data = JSON.parse(m.data);
      const c = call(data);
      c.attempt = data.attempt;
      c.text += data.text;
      schedule();
    });
    source.addEventListener("reset", (m) => {
      const c = call(JSON.parse(m.data));
      c.text = "";
      c.resets += 1;
      resets += 1;
      schedule();
      // A failed attempt is not a history event: re-render the conversation to show it.
      refreshAll();
    });
    // A committed call's bubble goes once the conversation shows that call answered.
    function settle() {
      calls.forEach((c, n) => {
        if (c.committed && document.querySelector("#model-" + n + ".is-ok")) c.done = true;
      });
      schedule();
    }
    source.addEventListener("committed", (m) => {
      call(JSON.parse(m.data)).committed = true;
      settle();
    });
    source.addEventListener("closed", () => source.close());
    // An error the server reported (not a dropped connection, which carries no data): the
    // stream cannot be read (on Temporal without a stream store), so do not reconnect.
    source.addEventListener("error", (m) => { if (m.data) source.close(); });
    document.addEventListener("duragent:updated", () => { settle(); render(); });
  }

  // -- actions -----------------------------------------------------------------------------

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      throw new Error((data && data.error) || "request failed with status " + response.status);
    }
    return { status: response.status, data };
  }

  function refreshAll() {
    // The streams notice the change too; this makes the click feel immediate.
    document.querySelectorAll("[data-live-fragment]").forEach((c) =>
      c.dispatchEvent(new CustomEvent("duragent:refresh"))
    );
  }

  async function decide(button) {
    const form = button.closest("form.decision");
    if (!form) return;
    const approve = button.dataset.approve === "1";
    const message = form.querySelector("input[name=message]")?.value || "";
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const { status } = await post(form.dataset.action, { approve, message });
      toast(status === 202
        ? "Decision queued: it is applied when a worker for this run is running."
        : (approve ? "Approved: the run resumes." : "Rejected: the model is told."));
      refreshAll();
    } catch (err) {
      toast(err.message, true);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }

  async function act(button) {
    const form = button.closest("form.action-form");
    if (!form) return;
    if (button.hasAttribute("data-confirm") && !button.classList.contains("confirming")) {
      button.classList.add("confirming");
      button.dataset.label = button.textContent;
      button.textContent = "Click again to confirm";
      setTimeout(() => {
        button.classList.remove("confirming");
        if (button.dataset.label) button.textContent = button.dataset.label;
      }, 4000);
      return;
    }
    const body = {};
    form.querySelectorAll("input, select").forEach((input) => { body[input.name] = input.value; });
    if (form.dataset.kind === "signal") {
      try { body.args = JSON.parse(body.args || "[]"); } catch (err) {
        toast("Arguments must be a JSON array, e.g. [\"yes\"]", true);
        return;
      }
    }
    button.disabled = true;
    try {
      const { data } = await post(form.dataset.action, body);
      if (form.dataset.kind === "fork" && data && data.url) {
        window.location.assign(data.url); // the new run's page
        return;
      }
      toast((data && data.status) || "done");
      refreshAll();
    } catch (err) {
      toast(err.message, true);
    } finally {
      button.disabled = false;
      button.classList.remove("confirming");
      if (button.dataset.label) button.textContent = button.dataset.label;
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target) return;
    if (target.matches("form.decision button[data-approve]")) { event.preventDefault(); decide(target); }
    else if (target.matches("form.action-form button[data-submit]")) { event.preventDefault(); act(target); }
  });

  // -- local times -------------------------------------------------------------------------

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const when = new Date(t.getAttribute("datetime"));
      if (!isNaN(when)) t.textContent = when.toLocaleString();
    });
  }

  document.addEventListener("duragent:updated", (event) => localTimes(event.target));

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    const slot = document.getElementById("stream-slot");
    if (slot && slot.dataset.streamSrc && window.EventSource) streamText(slot.dataset.streamSrc);
    document.querySelectorAll("[data-live-src]").forEach((container) => {
      live(container);
      container.addEventListener("duragent:refresh", () => {
        fetch(container.dataset.liveFragment, { credentials: "same-origin" })
          .then((r) => (r.ok ? r.text() : null))
          .then((html) => {
            if (html === null) return;
            const state = keepState(container);
            container.replaceChildren(...parseFragment(html));
            restoreState(container, state);
            localTimes(container);
          })
          .catch(() => {});
      });
    });
  });
})();
