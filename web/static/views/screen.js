//! The speaker screen for a projector: how to join (URL, code, QR code), the
//! highlighted question large, and the top questions with their likes. Counts
//! change at once; the order changes at most once a second and glides (FLIP),
//! so a burst of likes does not make the list jitter. Needs no credential.

import { html, useState, useEffect, useRef, useLayoutEffect } from '../lib/html.js';
import { t } from '../i18n.js';
import { connectLive } from '../lib/live.js';
import { initial, apply, ranked } from '../lib/questions.js';
import { flip } from '../lib/flip.js';
import { ConnectionBadge, LanguageSwitch } from './common.js';

const TOP = 7;
const REORDER_MS = 1000;

/** The base the server's QR code encodes (its public URL, or this page's origin). */
function publicBase() {
  const meta = document.querySelector('meta[name="qicoo-public-url"]');
  const base = meta && meta.getAttribute('content');
  return (base || location.origin).replace(/\/+$/, '');
}

/** The top list's order, changed at most once per REORDER_MS. */
function useThrottledOrder(ids) {
  const [order, setOrder] = useState(ids);
  const last = useRef(0);
  const timer = useRef(null);
  const key = ids.join(',');
  useEffect(() => {
    if (key === order.join(',')) return undefined;
    const wait = Math.max(0, last.current + REORDER_MS - Date.now());
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      last.current = Date.now();
      setOrder(key ? key.split(',') : []);
    }, wait);
    return () => clearTimeout(timer.current);
  }, [key]);
  return order;
}

/** The speaker screen of one meetup. */
export default function Screen({ meetup: first }) {
  const [state, setState] = useState(() => initial(first));
  const [conn, setConn] = useState('connecting');
  const listRef = useRef(null);
  const positions = useRef(new Map());

  useEffect(() => {
    const live = connectLive(first.id, {
      onState: setConn,
      onFrame: (frame) => setState((s) => apply(s, frame)),
    });
    return () => live.close();
  }, []);

  const meetup = state.meetup;
  const highlighted = [...state.questions.values()].find((q) => q.highlighted && q.status === 'published' && !q.answered);
  const top = ranked(state).filter((q) => q !== highlighted).slice(0, TOP);
  const order = useThrottledOrder(top.map((q) => q.id));
  // The shown order: the throttled one, keeping only questions still on top,
  // then any newcomer at the end until the next reorder.
  const rows = order.map((id) => state.questions.get(id)).filter((q) => q && top.includes(q));
  for (const q of top) if (!rows.includes(q)) rows.push(q);

  useLayoutEffect(() => flip(listRef.current, positions.current));

  const url = `${publicBase()}/m/${encodeURIComponent(meetup.code)}`;
  return html`<main class="screen" id="main">
    <header class="screen-head">
      <h1 class="screen-title">${meetup.title}</h1>
      <div class="screen-tools"><${ConnectionBadge} state=${conn} /><${LanguageSwitch} /></div>
    </header>
    <div class="screen-body">
      <section class="screen-questions" aria-label=${t('screen.top')}>
        ${highlighted
          ? html`<section class="screen-hl" aria-labelledby="hl-heading">
              <h2 id="hl-heading" class="screen-label">${t('screen.highlighted')}</h2>
              <p class="screen-hl-text">${highlighted.text}</p>
              <p class="screen-meta">${highlighted.author_name || t('question.anonymous')} · ${t('question.likes', { n: highlighted.likes })}</p>
            </section>`
          : null}
        <h2 class="screen-label">${t('screen.top')}</h2>
        ${!meetup.qa_open && !meetup.archived ? html`<p class="screen-closed">${t('screen.closed')}</p>` : null}
        ${rows.length === 0
          ? html`<p class="screen-empty">${t('screen.empty')}</p>`
          : html`<ol class="screen-list" ref=${listRef} aria-label=${t('screen.top')}>
              ${rows.map((q) => html`<li key=${q.id} data-key=${q.id} class="screen-item">
                <span class="screen-count" aria-label=${t('question.likes', { n: q.likes })}>${q.likes}</span>
                <span class="screen-text">${q.text}</span>
              </li>`)}
            </ol>`}
      </section>
      <aside class="screen-join" aria-label=${t('screen.join')}>
        <p class="screen-label">${t('screen.join')}</p>
        <img class="qr" src=${`/m/${encodeURIComponent(meetup.code)}/qr.svg`} alt=${t('screen.qr', { url })} width="320" height="320" />
        <p class="screen-url">${url}</p>
        <p class="screen-label">${t('screen.code')}</p>
        <p class="screen-code">${meetup.code}</p>
      </aside>
    </div>
  </main>`;
}
