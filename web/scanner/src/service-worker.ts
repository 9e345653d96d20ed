// The app shell is served from this cache, so the door app opens with no network at all. The build stamps the
// version into CACHE_NAME: a new deploy installs a new cache and the old one is dropped when it takes over.
declare const self: ServiceWorkerGlobalScope;
export {};
declare const CACHE_NAME: string;
declare const SHELL_FILES: string[];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE_NAME)
      .then((cache) => cache.addAll(SHELL_FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE_NAME).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  // The API (and anything outside the app) goes to the network untouched: the app decides what offline means.
  if (event.request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const path = url.pathname === scope.pathname ? "./" : "./" + url.pathname.slice(scope.pathname.length);
  if (path === "./config.json") {
    // The deploy may change it: the network's copy when there is one, the cached one otherwise.
    event.respondWith(
      fetch(event.request)
        .then((response) => {
          const copy = response.clone();
          void caches.open(CACHE_NAME).then((cache) => cache.put(path, copy));
          return response;
        })
        .catch(async () => (await caches.match(path)) ?? Response.error()),
    );
    return;
  }
  event.respondWith(caches.match(path, { ignoreSearch: true }).then((cached) => cached ?? fetch(event.request)));
});
