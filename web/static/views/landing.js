//! The start page: join a meetup by its code, or create one (which leads to
//! the organizer console, where the new key is shown once).

import { html, useState } from '../lib/html.js';
import { t } from '../i18n.js';
import { request } from '../lib/api.js';
import { organizing, setOrganizerKey } from '../lib/store.js';
import { Header, ErrorBanner, useError } from './common.js';
import { navigate } from '../lib/nav.js';

const CODE = /^[A-Za-z0-9]{6,8}$/;

function Join() {
  const [code, setCode] = useState('');
  const [invalid, setInvalid] = useState(false);
  const submit = (event) => {
    event.preventDefault();
    const clean = code.replace(/[\s-]/g, '').toUpperCase();
    if (!CODE.test(clean)) return setInvalid(true);
    location.assign(`/m/${encodeURIComponent(clean)}`);
  };
  return html`<section class="card" aria-labelledby="join-heading">
    <h2 id="join-heading">${t('landing.join.heading')}</h2>
    <form onSubmit=${submit} class="row">
      <label class="grow">
        <span class="label">${t('landing.join.code')}</span>
        <input name="code" value=${code} autocomplete="off" autocapitalize="characters" spellcheck="false"
          aria-invalid=${invalid ? 'true' : 'false'} aria-describedby=${invalid ? 'code-error' : undefined}
          onInput=${(e) => { setCode(e.currentTarget.value); setInvalid(false); }} />
      </label>
      <button type="submit" class="primary">${t('landing.join.submit')}</button>
    </form>
    ${invalid ? html`<p id="code-error" class="hint bad">${t('landing.join.invalid')}</p>` : null}
  </section>`;
}

function Create() {
  const [title, setTitle] = useState('');
  const [moderated, setModerated] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError, clearError] = useError();
  const submit = async (event) => {
    event.preventDefault();
    if (!title.trim() || busy) return;
    setBusy(true);
    try {
      const created = await request('POST', '/meetups', { body: { title, moderated } });
      setOrganizerKey(created.meetup.id, created.organizer_key, created.meetup.code);
      sessionStorage.setItem(`qicoo.fresh.${created.meetup.id}`, '1');
      navigate(`/m/${encodeURIComponent(created.meetup.code)}/organize`, created.meetup);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return html`<section class="card" aria-labelledby="create-heading">
    <h2 id="create-heading">${t('landing.create.heading')}</h2>
    <${ErrorBanner} message=${error} onDismiss=${clearError} />
    <form onSubmit=${submit} class="stack">
      <label>
        <span class="label">${t('landing.create.title')}</span>
        <input name="title" value=${title} maxlength="120" required onInput=${(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked=${moderated} onChange=${(e) => setModerated(e.currentTarget.checked)} />
        <span>${t('landing.create.moderated')}</span>
      </label>
      <div><button type="submit" class="primary" disabled=${busy}>${t('landing.create.submit')}</button></div>
    </form>
  </section>`;
}

/** The landing page. */
export default function Landing() {
  const mine = Object.entries(organizing());
  return html`<${Header} />
    <main class="page narrow" id="main">
      <h1>${t('app.name')}</h1>
      <p class="lead">${t('app.tagline')}</p>
      <${Join} />
      <${Create} />
      ${mine.length > 0
        ? html`<section class="card" aria-labelledby="mine-heading">
            <h2 id="mine-heading">${t('landing.recent')}</h2>
            <ul class="plain">
              ${mine.map(([id, code]) => html`<li key=${id}><a href=${`/m/${encodeURIComponent(code)}/organize`}>${code}</a></li>`)}
            </ul>
          </section>`
        : null}
    </main>`;
}
