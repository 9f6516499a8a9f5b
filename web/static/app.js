//! The entry point: reads the route from the address, loads only the view it
//! needs (the attendee's phone should not download the organizer console) and
//! renders it again when the language changes.

import { html, render, useEffect, useState } from './lib/html.js';
import { onLangChange } from './i18n.js';
import { findMeetup } from './lib/api.js';
import { known } from './lib/nav.js';
import { NotFound, Header, messageOf } from './views/common.js';

const VIEWS = {
  attendee: () => import('./views/attendee.js'),
  screen: () => import('./views/screen.js'),
  organize: () => import('./views/organize.js'),
  landing: () => import('./views/landing.js'),
};

/** `{view, code}` for the current path, or `{view: 'missing'}`. */
function route(path) {
  if (path === '/' || path === '') return { view: 'landing' };
  const match = /^\/m\/([^/]+)(?:\/(screen|organize))?\/?$/.exec(path);
  if (!match) return { view: 'missing' };
  return { view: match[2] || 'attendee', code: decodeURIComponent(match[1]).toUpperCase() };
}

const firstPath = location.pathname;

function serverSaysMissing() {
  if (location.pathname !== firstPath) return false;
  const meta = document.querySelector('meta[name="qicoo-status"]');
  return meta && meta.getAttribute('content') === 'not-found';
}

function App() {
  const [, setLang] = useState(0);
  const [loaded, setLoaded] = useState(null);
  const [path, setPath] = useState(location.pathname);
  const where = route(path);

  useEffect(() => onLangChange(() => setLang((n) => n + 1)), []);
  useEffect(() => {
    const follow = () => {
      setLoaded(null);
      setPath(location.pathname);
    };
    window.addEventListener('popstate', follow);
    window.addEventListener('qicoo:navigate', follow);
    return () => {
      window.removeEventListener('popstate', follow);
      window.removeEventListener('qicoo:navigate', follow);
    };
  }, []);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      if (where.view === 'missing') return setLoaded({ missing: true });
      if (where.code && !known.has(where.code) && serverSaysMissing()) return setLoaded({ missing: true });
      const [module, meetup] = await Promise.all([
        VIEWS[where.view](),
        where.code ? (known.get(where.code) ?? findMeetup(where.code)) : Promise.resolve(null),
      ]);
      if (cancelled) return;
      if (where.code && !meetup) return setLoaded({ missing: true });
      setLoaded({ View: module.default, meetup });
    })().catch((error) => setLoaded({ error }));
    return () => {
      cancelled = true;
    };
  }, [path]);

  if (!loaded) return html`<${Header} /><main class="page" id="main" aria-busy="true"></main>`;
  if (loaded.missing) return html`<${NotFound} code=${where.code} />`;
  if (loaded.error) {
    return html`<${Header} /><main class="page" id="main"><p role="alert">${messageOf(loaded.error)}</p></main>`;
  }
  const { View, meetup } = loaded;
  return html`<${View} key=${path} meetup=${meetup} code=${where.code} />`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
