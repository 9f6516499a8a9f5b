//! Pieces every view shares: the header with the language switch, the
//! connection badge, error banners and the "no such meetup" page.

import { html, useState } from '../lib/html.js';
import { t, lang, setLang, LANGUAGES } from '../i18n.js';
import { ApiError, NetworkError } from '../lib/api.js';

/** The language switch: a labelled select, remembered in this browser. */
export function LanguageSwitch() {
  return html`<label class="lang">
    <span class="visually-hidden">${t('lang.label')}</span>
    <select aria-label=${t('lang.label')} value=${lang()} onChange=${(e) => setLang(e.currentTarget.value)}>
      ${LANGUAGES.map((code) => html`<option value=${code} lang=${code} selected=${code === lang()}>${t(`lang.${code}`)}</option>`)}
    </select>
  </label>`;
}

/** The top bar: the product name (a link home), an optional title, the switch. */
export function Header({ title, children }) {
  return html`<header class="bar">
    <a class="brand" href="/">${t('app.name')}</a>
    ${title ? html`<span class="bar-title">${title}</span>` : null}
    <div class="bar-end">${children}<${LanguageSwitch} /></div>
  </header>`;
}

/** The connection state, announced politely when it changes. */
export function ConnectionBadge({ state }) {
  const label = state === 'live' ? t('conn.live') : state === 'offline' ? t('conn.offline') : t('conn.connecting');
  return html`<span class=${`conn conn-${state}`} role="status" aria-label=${`${t('conn.label')}: ${label}`}>
    <span class="conn-dot" aria-hidden="true"></span>${label}
  </span>`;
}

/** A dismissible error message. */
export function ErrorBanner({ message, onDismiss }) {
  if (!message) return null;
  return html`<div class="error" role="alert">
    <span>${message}</span>
    <button type="button" class="link" onClick=${onDismiss}>${t('error.dismiss')}</button>
  </div>`;
}

/** The clear page for a code that names no meetup (or an unknown address). */
export function NotFound({ code }) {
  return html`<${Header} />
    <main class="page narrow" id="main">
      <h1>${t('notfound.heading')}</h1>
      <p>${code ? t('notfound.body', { code }) : t('notfound.page')}</p>
      <p><a href="/">${t('notfound.home')}</a></p>
    </main>`;
}

/** What to tell the person about an error, in their language. */
export function messageOf(error) {
  if (error instanceof NetworkError) return t('error.offline');
  if (!(error instanceof ApiError)) return t('error.generic');
  switch (error.status) {
    case 401:
    case 403:
      return t('error.forbidden');
    case 404:
      return t('error.notFound');
    case 409:
      return t('error.conflict');
    case 413:
    case 422: {
      const fields = error.problem.errors ? Object.values(error.problem.errors).flat() : [];
      return t('error.invalid', { detail: fields.join(' ') || error.message });
    }
    case 429:
    case 502:
    case 503:
    case 504:
      return t('error.busy');
    default:
      return t('error.generic');
  }
}

/** State for an error banner: `[message, setError, clear]`. */
export function useError() {
  const [message, setMessage] = useState(null);
  return [message, (error) => setMessage(messageOf(error)), () => setMessage(null)];
}
