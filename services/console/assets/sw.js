// The volunteer app's service worker: pages of the app are fetched from the network first and
// kept, so a phone that loses the network still shows the last state it saw; the stylesheet,
// script and icon come from the cache when the network is gone.
"use strict";
const CACHE = "komek-app-v1";
const SHELL = ["/app", "/assets/console.css", "/assets/console.js", "/assets/icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // Only this app's own pages and assets; the live stream and every form go to the network.
  if (event.request.method !== "GET" || url.pathname === "/app/offers") return;
  if (!(url.pathname.startsWith("/app") || url.pathname.startsWith("/assets/"))) return;
  event.respondWith(
    fetch(event.request)
      .then((reply) => {
        if (reply.ok) {
          const copy = reply.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return reply;
      })
      .catch(() => caches.match(event.request).then((hit) => hit || caches.match("/app")))
  );
});
