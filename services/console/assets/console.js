// The console's only script, served by the console itself. Every page works without it; with
// it the place field suggests settlements as the operator types, queues and request pages
// follow the dispatch watch without reloading, and the map zooms and pans.
"use strict";

function debounce(fn, ms) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), ms);
  };
}

// ---- place suggestions: a combobox in the ARIA pattern, driven by the keyboard ----
function setUpPlaces(box) {
  const input = box.querySelector("[role=combobox]");
  const list = box.querySelector(".suggestions");
  const chosen = box.querySelector("#place-chosen");
  const form = input.form;
  const field = (name) => form.querySelector(`input[name=${name}]`);
  let active = -1;
  let asked = 0;

  function options() {
    return Array.from(list.querySelectorAll("[role=option]"));
  }
  function close() {
    list.innerHTML = "";
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }
  function mark(i) {
    const all = options();
    if (all.length === 0) return;
    active = (i + all.length) % all.length;
    all.forEach((o, j) => o.setAttribute("aria-selected", j === active ? "true" : "false"));
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({ block: "nearest" });
  }
  function pick(option) {
    field("lat").value = option.dataset.lat;
    field("lon").value = option.dataset.lon;
    field("settlement").value = option.dataset.settlement;
    field("district").value = option.dataset.district;
    field("region").value = option.dataset.region;
    input.value = option.querySelector("strong").textContent;
    chosen.textContent = option.textContent;
    close();
  }
  const ask = debounce(async () => {
    const q = input.value.trim();
    if (q.length < 2) { close(); return; }
    const mine = ++asked;
    try {
      const reply = await fetch("/places?q=" + encodeURIComponent(q), { credentials: "same-origin" });
      if (mine !== asked) return; // a later keystroke has asked again
      list.innerHTML = await reply.text();
    } catch (e) {
      return;
    }
    const listbox = list.querySelector("[role=listbox]");
    if (listbox) { listbox.id = "place-listbox"; input.setAttribute("aria-controls", "place-listbox"); }
    options().forEach((o, j) => {
      o.id = "place-option-" + j;
      o.addEventListener("mousedown", (ev) => { ev.preventDefault(); pick(o); });
    });
    input.setAttribute("aria-expanded", options().length > 0 ? "true" : "false");
    active = -1;
    if (options().length > 0) mark(0);
  }, 120);

  input.addEventListener("input", () => {
    // What was typed no longer names the settlement picked before.
    ["lat", "lon", "settlement", "district", "region"].forEach((n) => { field(n).value = ""; });
    chosen.textContent = "";
    ask();
  });
  input.addEventListener("keydown", (ev) => {
    const open = options().length > 0;
    if (ev.key === "ArrowDown" && open) { ev.preventDefault(); mark(active + 1); }
    else if (ev.key === "ArrowUp" && open) { ev.preventDefault(); mark(active - 1); }
    else if (ev.key === "Enter" && open && active >= 0) { ev.preventDefault(); pick(options()[active]); }
    else if (ev.key === "Escape" && open) { ev.preventDefault(); close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

// ---- an anonymous caller has no name or phone to type ----
function setUpAnonymous(checkbox) {
  const caller = document.getElementById("caller");
  const apply = () => { caller.disabled = checkbox.checked; };
  checkbox.addEventListener("change", apply);
  apply();
}

// ---- live parts: refetched whenever the dispatch watch reports a change ----
function setUpLive(part) {
  const only = part.dataset.request || null;
  let refreshing = false;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const reply = await fetch(part.dataset.live, { credentials: "same-origin" });
      if (reply.ok) {
        // Maps inside the part are drawn anew: keep where the dispatcher had zoomed to.
        const shown = part.querySelector("figure[data-map] > svg");
        const kept = shown ? shown.getAttribute("viewBox") : null;
        part.innerHTML = await reply.text();
        part.querySelectorAll("figure[data-map]").forEach((f) => setUpMap(f, kept));
        part.dataset.refreshed = String(Number(part.dataset.refreshed || "0") + 1);
      }
    } catch (e) {
      // The next change or reconnect refreshes again.
    } finally {
      refreshing = false;
      if (again) { again = false; refresh(); }
    }
  }
  const soon = debounce(refresh, 250);
  const events = new EventSource(part.dataset.events);
  let lost = false;
  events.addEventListener("change", (ev) => {
    if (only === null || ev.data === only) soon();
  });
  // The watch starts from now, after the page was drawn, and after a reconnect it continues
  // from now: either way, catch up once on what happened meanwhile.
  events.addEventListener("open", () => {
    part.dataset.watching = "true";
    lost = false;
    soon();
  });
  events.addEventListener("error", () => { lost = true; });
  // Some changes come with no event: a request starts waiting too long just by time passing.
  if (part.dataset.every) setInterval(soon, Number(part.dataset.every) * 1000);
}

// ---- the map: zoom with buttons, wheel or keys; pan by dragging or with the arrows ----
function setUpMap(figure, kept) {
  const svg = figure.querySelector("svg");
  const [x0, y0, w0, h0] = svg.getAttribute("viewBox").split(" ").map(Number);
  let view = { x: x0, y: y0, w: w0, h: h0 };
  function show() {
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
    svg.style.setProperty("--z", String(w0 / view.w));
  }
  function zoom(factor, cx, cy) {
    const w = Math.min(w0, Math.max(w0 / 64, view.w / factor));
    const h = w * (h0 / w0);
    cx = cx === undefined ? view.x + view.w / 2 : cx;
    cy = cy === undefined ? view.y + view.h / 2 : cy;
    view = { x: cx - (cx - view.x) * (w / view.w), y: cy - (cy - view.y) * (h / view.h), w, h };
    show();
  }
  function pan(dx, dy) {
    view.x += dx * view.w;
    view.y += dy * view.h;
    show();
  }
  function reset() {
    view = { x: x0, y: y0, w: w0, h: h0 };
    show();
  }
  function toMap(ev) {
    const r = svg.getBoundingClientRect();
    return [view.x + ((ev.clientX - r.left) / r.width) * view.w, view.y + ((ev.clientY - r.top) / r.height) * view.h];
  }
  figure.querySelectorAll("[data-zoom]").forEach((b) => {
    b.addEventListener("click", () => {
      if (b.dataset.zoom === "in") zoom(1.6);
      else if (b.dataset.zoom === "out") zoom(1 / 1.6);
      else reset();
    });
  });
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [cx, cy] = toMap(ev);
    zoom(ev.deltaY < 0 ? 1.25 : 0.8, cx, cy);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => { drag = toMap(ev); svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const [x, y] = toMap(ev);
    view.x -= x - drag[0];
    view.y -= y - drag[1];
    show();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("keydown", (ev) => {
    const step = 0.15;
    const keys = {
      ArrowLeft: () => pan(-step, 0), ArrowRight: () => pan(step, 0),
      ArrowUp: () => pan(0, -step), ArrowDown: () => pan(0, step),
      "+": () => zoom(1.6), "=": () => zoom(1.6), "-": () => zoom(1 / 1.6), "0": reset,
    };
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  });
  if (kept) {
    const [kx, ky, kw, kh] = kept.split(" ").map(Number);
    view = { x: kx, y: ky, w: kw, h: kh };
  } else if (figure.dataset.focus) {
    const [fx, fy] = figure.dataset.focus.split(" ").map(Number);
    view = { x: fx - w0 / 8, y: fy - h0 / 8, w: w0 / 4, h: h0 / 4 };
  }
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-places]").forEach(setUpPlaces);
  const anonymous = document.getElementById("anonymous");
  if (anonymous && document.getElementById("caller")) setUpAnonymous(anonymous);
  document.querySelectorAll("[data-live][data-events]").forEach(setUpLive);
  document.querySelectorAll("figure[data-map]").forEach((f) => setUpMap(f, null));
});

// Ctrl+Enter saves the call from any field.
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    const form = ev.target.closest && ev.target.closest("#call-form");
    if (form) { ev.preventDefault(); form.requestSubmit(); }
  }
});

// ---- the volunteer's app ----

// Offers as they come: each `offer` event brings a card, each `gone` event names one to take
// away. The browser reconnects by itself and sends the last event's id, the stream's cursor,
// so nothing is missed or shown twice.
function setUpOffers(box) {
  const state = document.getElementById("offers-state");
  const none = document.getElementById("no-offers");
  const show = (key) => { state.textContent = state.dataset[key]; state.dataset.state = key; };
  const refreshEmpty = () => { none.hidden = box.querySelector("article.offer") !== null; };
  const events = new EventSource(box.dataset.offerStream);
  events.addEventListener("open", () => show("live"));
  events.addEventListener("error", () => show("offline"));
  events.addEventListener("offer", (ev) => {
    const holder = document.createElement("div");
    holder.innerHTML = ev.data;
    const card = holder.firstElementChild;
    const old = document.getElementById(card.id);
    if (old) old.replaceWith(card); else box.prepend(card);
    box.dataset.received = String(Number(box.dataset.received || "0") + 1);
    startCountdown(card.querySelector(".countdown"));
    refreshEmpty();
  });
  events.addEventListener("gone", (ev) => {
    const card = box.querySelector(`article.offer[data-assignment="${CSS.escape(ev.data)}"]`);
    if (card) card.remove();
    refreshEmpty();
  });
}

// "Answer within 14:32", counting down to the offer's lapse.
function startCountdown(el) {
  if (!el) return;
  const until = Number(el.dataset.expires) * 1000;
  const label = el.textContent;
  const tick = () => {
    const left = Math.max(0, Math.round((until - Date.now()) / 1000));
    const mm = String(Math.floor(left / 60)).padStart(2, "0");
    const ss = String(left % 60).padStart(2, "0");
    el.textContent = `${label} ${mm}:${ss}`;
    if (left > 0 && el.isConnected) setTimeout(tick, 1000);
  };
  tick();
}

// While on the way, the phone's position goes to the dispatchers (the browser asks first).
function setUpPositionSharing(job) {
  if (!("geolocation" in navigator)) return;
  const out = document.getElementById("position-state");
  let last = 0;
  navigator.geolocation.watchPosition(async (pos) => {
    if (Date.now() - last < 15000) return; // one report every 15 s is enough
    last = Date.now();
    const body = new URLSearchParams({
      csrf: job.dataset.csrf,
      lat: String(pos.coords.latitude),
      lon: String(pos.coords.longitude),
    });
    try {
      const reply = await fetch(job.dataset.sharePosition, { method: "POST", body, credentials: "same-origin" });
      job.dataset.positionsSent = String(Number(job.dataset.positionsSent || "0") + (reply.ok ? 1 : 0));
      if (out) out.textContent = reply.ok ? "📍 " + pos.coords.latitude.toFixed(4) + ", " + pos.coords.longitude.toFixed(4) : "";
    } catch (e) {
      last = 0; // offline: try again with the next fix
    }
  }, () => {}, { enableHighAccuracy: true, maximumAge: 10000 });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-offer-stream]").forEach(setUpOffers);
  document.querySelectorAll("[data-share-position]").forEach(setUpPositionSharing);
  if ("serviceWorker" in navigator && location.pathname.startsWith("/app")) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app" }).catch(() => {});
  }
});

// Parts that have no event stream of their own are fetched again every 20 s.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-poll]").forEach((part) => {
    setInterval(async () => {
      try {
        const reply = await fetch(part.dataset.poll, { credentials: "same-origin" });
        if (reply.ok) part.innerHTML = await reply.text();
      } catch (e) {
        // Offline for now: the next round tries again.
      }
    }, 20000);
  });
});
