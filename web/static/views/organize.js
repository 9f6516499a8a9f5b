//! The organizer console: the new key shown once (with copy and a link for
//! another device that keeps the key in the #fragment), a form to paste a key,
//! the meetup's settings, and the live moderation queue with keyboard shortcuts.
//! The key goes only into Authorization headers and the live stream's first
//! message, never into a URL the server sees.

import { html, useState, useEffect, useRef } from '../lib/html.js';
import { t, formatTime, lang } from '../i18n.js';
import { request, allQuestions, download, ApiError } from '../lib/api.js';
import { connectLive } from '../lib/live.js';
import { initial, apply, byRecent, byTop } from '../lib/questions.js';
import { organizerKey, setOrganizerKey } from '../lib/store.js';
import { Header, ConnectionBadge, ErrorBanner, useError } from './common.js';

const POLL_MS = 2000;

/** A key handed over in the address's #fragment (`#key=…`), taken and then removed from the address. */
function keyFromFragment() {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(match[1]);
}

/** Whether `key` organizes the meetup: an empty change answers 200 only to its organizer. */
async function keyWorks(meetupId, key) {
  try {
    await request('PATCH', `/meetups/${meetupId}`, { body: {}, auth: key });
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return false;
    if (error instanceof ApiError && error.status === 409) return true;
    throw error;
  }
}

async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API outside secure contexts (plain http on a LAN): select and copy.
    if (!input) return false;
    input.select();
    return document.execCommand('copy');
  }
}

function KeyOnce({ meetup, organizerKeyValue, onDone }) {
  const [copied, setCopied] = useState(false);
  const inputRef = useRef(null);
  const deviceLink = `${location.origin}/m/${encodeURIComponent(meetup.code)}/organize#key=${encodeURIComponent(organizerKeyValue)}`;
  return html`<section class="card keep" aria-labelledby="keep-heading">
    <h2 id="keep-heading">${t('organize.keyOnce.heading')}</h2>
    <p>${t('organize.keyOnce.body')}</p>
    <div class="row">
      <label class="grow">
        <span class="label">${t('organize.keyOnce.label')}</span>
        <input ref=${inputRef} readonly value=${organizerKeyValue} class="mono" onFocus=${(e) => e.currentTarget.select()} />
      </label>
      <button type="button" class="primary" onClick=${async () => setCopied(await copy(organizerKeyValue, inputRef.current))}>
        ${copied ? t('organize.keyOnce.copied') : t('organize.keyOnce.copy')}
      </button>
    </div>
    <label>
      <span class="label">${t('organize.keyOnce.device')}</span>
      <input readonly value=${deviceLink} class="mono" onFocus=${(e) => e.currentTarget.select()} />
    </label>
    <p role="status" class="visually-hidden">${copied ? t('organize.keyOnce.copied') : ''}</p>
    <div><button type="button" onClick=${onDone}>${t('organize.keyOnce.done')}</button></div>
  </section>`;
}

function PasteKey({ meetup, onKey }) {
  const [value, setValue] = useState('');
  const [wrong, setWrong] = useState(false);
  const [error, setError, clearError] = useError();
  const submit = async (event) => {
    event.preventDefault();
    const key = value.trim();
    if (!key) return;
    try {
      if (await keyWorks(meetup.id, key)) onKey(key);
      else setWrong(true);
    } catch (e) {
      setError(e);
    }
  };
  return html`<section class="card" aria-labelledby="paste-heading">
    <h2 id="paste-heading">${t('organize.needKey.heading')}</h2>
    <p>${t('organize.needKey.body')}</p>
    <${ErrorBanner} message=${error} onDismiss=${clearError} />
    <form class="row" onSubmit=${submit}>
      <label class="grow">
        <span class="label">${t('organize.needKey.label')}</span>
        <input type="password" autocomplete="off" class="mono" value=${value} aria-invalid=${wrong ? 'true' : 'false'}
          aria-describedby=${wrong ? 'key-wrong' : undefined}
          onInput=${(e) => { setValue(e.currentTarget.value); setWrong(false); }} />
      </label>
      <button type="submit" class="primary">${t('organize.needKey.submit')}</button>
    </form>
    ${wrong ? html`<p id="key-wrong" class="hint bad" role="alert">${t('organize.needKey.wrong')}</p>` : null}
  </section>`;
}

function Settings({ meetup, act }) {
  const [title, setTitle] = useState(meetup.title);
  const [confirming, setConfirming] = useState(false);
  useEffect(() => setTitle(meetup.title), [meetup.title]);
  const change = (body) => act(() => request('PATCH', `/meetups/${meetup.id}`, { body, auth: act.key }), 'meetup');
  if (meetup.archived) {
    return html`<section class="card" aria-labelledby="settings-heading">
      <h2 id="settings-heading">${t('organize.settings.heading')}</h2>
      <p class="notice">${t('organize.settings.archived')}</p>
    </section>`;
  }
  return html`<section class="card" aria-labelledby="settings-heading">
    <h2 id="settings-heading">${t('organize.settings.heading')}</h2>
    <form class="row" onSubmit=${(e) => { e.preventDefault(); if (title.trim()) change({ title }); }}>
      <label class="grow">
        <span class="label">${t('organize.settings.title')}</span>
        <input name="title" value=${title} maxlength="120" onInput=${(e) => setTitle(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled=${!title.trim() || title.trim() === meetup.title}>${t('organize.settings.save')}</button>
    </form>
    <div class="row wrap">
      <label class="check">
        <input type="checkbox" role="switch" checked=${meetup.qa_open} onChange=${(e) => change({ qa_open: e.currentTarget.checked })} />
        <span>${t('organize.settings.qaOpen')}</span>
      </label>
      <label class="check">
        <input type="checkbox" role="switch" checked=${meetup.moderated} onChange=${(e) => change({ moderated: e.currentTarget.checked })} />
        <span>${t('organize.settings.moderated')}</span>
      </label>
    </div>
    ${confirming
      ? html`<div class="confirm stack" role="group" aria-labelledby="archive-q">
          <p id="archive-q">${t('organize.settings.archive.confirm')}</p>
          <div class="row">
            <button type="button" class="danger" onClick=${() => { setConfirming(false); change({ archived: true }); }}>${t('organize.settings.archive.yes')}</button>
            <button type="button" onClick=${() => setConfirming(false)}>${t('question.cancel')}</button>
          </div>
        </div>`
      : html`<div><button type="button" class="danger-outline" onClick=${() => setConfirming(true)}>${t('organize.settings.archive')}</button></div>`}
  </section>`;
}

const ACTIONS = {
  approve: 'organize.approve',
  reject: 'organize.reject',
  answer: 'organize.answer',
  reopen: 'organize.reopen',
  highlight: 'organize.highlight',
  unhighlight: 'organize.unhighlight',
};

/** This browser's offset from UTC as `+09:00`, for the report's times. */
function localOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const pad = (n) => String(n).padStart(2, '0');
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The exports the console offers: what `format=` (and more) each asks for. */
const EXPORTS = [
  { id: 'xlsx', query: () => 'format=xlsx' },
  { id: 'zip', query: () => 'format=csv&bom=true' },
  { id: 'jsonl', query: () => 'format=jsonl' },
  { id: 'report', query: () => `format=html&lang=${lang()}&tz=${encodeURIComponent(localOffset())}` },
];

/** Saves a Blob under `fileName` through a temporary link. */
function save(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function Export({ meetup, keyValue, onError }) {
  const [busy, setBusy] = useState(null);
  const [done, setDone] = useState('');
  const run = async (item) => {
    setBusy(item.id);
    setDone('');
    try {
      const file = await download(`/meetups/${meetup.id}/export?${item.query()}`, keyValue);
      save(file.blob, file.fileName);
      setDone(t('organize.export.done', { file: file.fileName, position: file.position }));
    } catch (error) {
      onError(error);
    } finally {
      setBusy(null);
    }
  };
  return html`<section class="card" aria-labelledby="export-heading">
    <h2 id="export-heading">${t('organize.export.heading')}</h2>
    <p class="hint">${t('organize.export.body')}</p>
    <div class="row wrap">
      ${EXPORTS.map(
        (item) => html`<button type="button" disabled=${busy !== null} aria-busy=${busy === item.id}
          onClick=${() => run(item)}>${busy === item.id ? t('organize.export.working') : t(`organize.export.${item.id}`)}</button>`,
      )}
    </div>
    <p role="status" class="hint">${done}</p>
  </section>`;
}

/** Who did it, as the history names them (participants by pseudonym). */
function actorName(actor) {
  if (actor === 'organizer') return t('organize.history.organizer');
  if (actor && actor.startsWith('participant:')) {
    return t('organize.history.participant', { name: actor.slice('participant:'.length) });
  }
  return t('organize.history.system');
}

/** A question's history, loaded when opened: each event with its time and who did it. */
function QuestionHistory({ question, auth }) {
  const [open, setOpen] = useState(false);
  const [events, setEvents] = useState(null);
  const [failed, setFailed] = useState(false);
  const [more, setMore] = useState(false);
  const toggle = async () => {
    const next = !open;
    setOpen(next);
    if (!next) return;
    setEvents(null);
    setFailed(false);
    try {
      const page = await request('GET', `/questions/${question.id}/history?limit=1000`, { auth });
      setEvents(page.items);
      setMore(Boolean(page.next_cursor));
    } catch {
      setFailed(true);
    }
  };
  const id = `history-${question.id}`;
  const label = t('organize.history.label', { text: question.text });
  let body = null;
  if (open && failed) body = html`<p class="hint">${t('organize.history.failed')}</p>`;
  else if (open && events === null) body = html`<p class="hint">${t('organize.history.loading')}</p>`;
  else if (open) {
    body = html`<ol class="history-list" aria-label=${label}>
      ${events.map(
        (e) => html`<li>
          <time datetime=${e.time}>${formatTime(e.time)}</time>
          <span class="history-what">${t(`organize.history.event.${e.type}`)}</span>
          <span class="hint">${actorName(e.actor)}</span>
        </li>`,
      )}
    </ol>
    ${more ? html`<p class="hint">${t('organize.history.more')}</p>` : null}`;
  }
  return html`<div class="history">
    <button type="button" class="link" aria-expanded=${open ? 'true' : 'false'} aria-controls=${id}
      aria-label=${label} onClick=${toggle}>${open ? t('organize.history.hide') : t('organize.history.show')}</button>
    <div id=${id}>${body}</div>
  </div>`;
}

function ModItem({ question, act, archived }) {
  const [removing, setRemoving] = useState(false);
  const [reason, setReason] = useState('');
  const moderate = (action) =>
    act(() => request('POST', `/questions/${question.id}/${action}`, { auth: act.key }), 'question');
  const remove = (event) => {
    event.preventDefault();
    const query = reason.trim() ? `?reason=${encodeURIComponent(reason.trim())}` : '';
    act(() => request('DELETE', `/questions/${question.id}${query}`, { auth: act.key }), 'question');
    setRemoving(false);
  };
  const button = (action, extra = '') => html`<button type="button" class=${`small ${extra}`} data-action=${action}
    aria-label=${t('organize.action.label', { action: t(ACTIONS[action]), text: question.text })}
    onClick=${() => moderate(action)}>${t(ACTIONS[action])}</button>`;
  const pending = question.status === 'pending';
  const rejected = question.status === 'rejected';
  return html`<li class=${`question mod ${question.highlighted ? 'highlighted' : ''}`} tabindex="0" data-qid=${question.id}
    data-status=${question.status} data-answered=${question.answered ? '1' : '0'} data-highlighted=${question.highlighted ? '1' : '0'}>
    <div class="q-main">
      <p class="q-text">${question.text}</p>
      <p class="q-meta">
        <span>${question.author_name || t('question.anonymous')}</span>
        ${question.created_at ? html`<time datetime=${question.created_at}>${formatTime(question.created_at)}</time>` : null}
        <span>${t('question.likes', { n: question.likes })}</span>
        ${question.highlighted ? html`<span class="badge badge-hl">${t('question.highlighted')}</span>` : null}
        ${question.answered ? html`<span class="badge badge-ok">${t('question.answered')}</span>` : null}
      </p>
      ${archived
        ? null
        : html`<div class="row wrap actions">
            ${pending ? [button('approve', 'primary'), button('reject')] : null}
            ${rejected ? button('approve') : null}
            ${question.status === 'published'
              ? [
                  question.answered ? button('reopen') : button('answer', 'primary'),
                  question.highlighted ? button('unhighlight') : button('highlight'),
                ]
              : null}
            ${rejected
              ? null
              : html`<button type="button" class="small danger-outline" data-action="remove"
                  aria-label=${t('organize.action.label', { action: t('organize.remove'), text: question.text })}
                  aria-expanded=${removing ? 'true' : 'false'} onClick=${() => setRemoving(!removing)}>${t('organize.remove')}</button>`}
          </div>`}
      ${removing
        ? html`<form class="row" onSubmit=${remove}>
            <label class="grow">
              <span class="label">${t('organize.remove.reason')}</span>
              <input value=${reason} maxlength="200" onInput=${(e) => setReason(e.currentTarget.value)} />
            </label>
            <button type="submit" class="danger">${t('organize.remove.yes')}</button>
          </form>`
        : null}
      <${QuestionHistory} question=${question} auth=${act.key} />
    </div>
  </li>`;
}

/** j/k move between questions; a, r, d, h, x act on the focused one. */
function onShortcut(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.matches('input, textarea, select')) return;
  const item = target.closest('[data-qid]');
  const items = [...document.querySelectorAll('[data-qid]')];
  const at = items.indexOf(item);
  const press = (action) => {
    const el = item && item.querySelector(`[data-action="${action}"]`);
    if (el) {
      event.preventDefault();
      el.click();
    }
  };
  switch (event.key) {
    case 'j':
    case 'ArrowDown':
      if (items.length) {
        event.preventDefault();
        items[Math.min(items.length - 1, at + 1)].focus();
      }
      break;
    case 'k':
    case 'ArrowUp':
      if (items.length) {
        event.preventDefault();
        items[Math.max(0, at - 1)].focus();
      }
      break;
    case 'a':
      press('approve');
      break;
    case 'r':
      press('reject');
      break;
    case 'd':
      press(item && item.dataset.answered === '1' ? 'reopen' : 'answer');
      break;
    case 'h':
      press(item && item.dataset.highlighted === '1' ? 'unhighlight' : 'highlight');
      break;
    case 'x':
      press('remove');
      break;
    default:
      break;
  }
}

function Console({ meetup: first, keyValue, onForget }) {
  const [state, setState] = useState(() => initial(first));
  const [conn, setConn] = useState('connecting');
  const [authed, setAuthed] = useState(false);
  const [error, setError, clearError] = useError();
  const authedRef = useRef(false);

  const poll = async () => {
    try {
      const { items, position } = await allQuestions(first.id, keyValue, 'recent');
      if (authedRef.current) return;
      setState((s) => ({ ...s, questions: new Map(items.map((q) => [q.id, q])), position: Math.max(s.position, position) }));
    } catch {
      // Offline: try again on the next tick.
    }
  };

  useEffect(() => {
    const live = connectLive(first.id, {
      organizerKey: keyValue,
      onState: setConn,
      onAuth: (ok) => {
        authedRef.current = ok;
        setAuthed(ok);
        // The server closed the stream on this key: it does not organize this meetup.
        if (!ok) onForget(true);
      },
      onFrame: (frame) => {
        setState((s) => apply(s, frame));
        if (!authedRef.current) poll();
      },
    });
    poll();
    const timer = setInterval(() => {
      if (!authedRef.current) poll();
    }, POLL_MS);
    return () => {
      live.close();
      clearInterval(timer);
    };
  }, []);

  const act = async (send, kind) => {
    try {
      const result = await send();
      if (kind === 'meetup' && result && result.meetup) setState((s) => ({ ...s, meetup: result.meetup }));
      if (kind === 'question' && result && result.question) {
        const q = result.question;
        setState((s) => {
          const questions = new Map(s.questions);
          if (q.status === 'removed' || q.status === 'withdrawn') questions.delete(q.id);
          else questions.set(q.id, { ...(s.questions.get(q.id) || {}), ...q });
          return { ...s, questions };
        });
      }
    } catch (e) {
      setError(e);
    }
  };
  act.key = keyValue;

  const meetup = state.meetup;
  const all = [...state.questions.values()];
  const pending = all.filter((q) => q.status === 'pending').sort((a, b) => byRecent(b, a));
  const published = all.filter((q) => q.status === 'published').sort((a, b) => Number(a.answered) - Number(b.answered) || Number(b.highlighted) - Number(a.highlighted) || byTop(a, b));
  const rejected = all.filter((q) => q.status === 'rejected').sort(byRecent);
  const item = (q) => html`<${ModItem} key=${q.id} question=${q} act=${act} archived=${meetup.archived} />`;
  const code = encodeURIComponent(meetup.code);

  return html`<${Header} title=${meetup.title}><${ConnectionBadge} state=${conn} /></${Header}>
    <main class="page wide" id="main" onKeyDown=${onShortcut}>
      <h1 class="title">${t('organize.heading')}: ${meetup.title}</h1>
      <p class="row wrap">
        <span>${t('screen.code')}: <strong class="mono">${meetup.code}</strong></span>
        <a href=${`/m/${code}`} target="_blank" rel="noopener">${t('attendee.questions.heading')}</a>
        <a href=${`/m/${code}/screen`} target="_blank" rel="noopener">${t('attendee.screenLink')}</a>
        <button type="button" class="link" onClick=${() => onForget(false)}>${t('organize.forget')}</button>
      </p>
      <${ErrorBanner} message=${error} onDismiss=${clearError} />
      <div class="columns">
        <div>
          <${Settings} meetup=${meetup} act=${act} />
          <${Export} meetup=${meetup} keyValue=${keyValue} onError=${setError} />
          <section class="card" aria-labelledby="keys-heading">
            <h2 id="keys-heading">${t('organize.shortcuts.heading')}</h2>
            <p class="hint">${t('organize.shortcuts.body')}</p>
          </section>
        </div>
        <div>
          <section class="card" aria-labelledby="queue-heading">
            <div class="row between">
              <h2 id="queue-heading">${t('organize.queue.heading')}</h2>
              <span class="hint">${authed ? t('organize.queue.live') : t('organize.queue.polling')}</span>
            </div>
            ${pending.length === 0
              ? html`<p class="empty">${t('organize.queue.empty')}</p>`
              : html`<ul class="questions" aria-label=${t('organize.queue.heading')}>${pending.map(item)}</ul>`}
          </section>
          <section class="card" aria-labelledby="published-heading">
            <h2 id="published-heading">${t('organize.questions.heading')}</h2>
            ${published.length === 0
              ? html`<p class="empty">${t('organize.questions.empty')}</p>`
              : html`<ul class="questions" aria-label=${t('organize.questions.heading')}>${published.map(item)}</ul>`}
          </section>
          ${rejected.length > 0
            ? html`<section class="card" aria-labelledby="rejected-heading">
                <h2 id="rejected-heading">${t('organize.rejected.heading')}</h2>
                <ul class="questions" aria-label=${t('organize.rejected.heading')}>${rejected.map(item)}</ul>
              </section>`
            : null}
        </div>
      </div>
    </main>`;
}

/** The organizer console of one meetup. */
export default function Organize({ meetup }) {
  const [key, setKey] = useState(() => {
    const handed = keyFromFragment();
    if (handed) setOrganizerKey(meetup.id, handed, meetup.code);
    return organizerKey(meetup.id);
  });
  const freshFlag = `qicoo.fresh.${meetup.id}`;
  const [fresh, setFresh] = useState(() => sessionStorage.getItem(freshFlag) === '1');
  const keep = (k) => {
    setOrganizerKey(meetup.id, k, meetup.code);
    setKey(k);
  };
  const [refused, setRefused] = useState(false);
  const forget = (wasRefused) => {
    setOrganizerKey(meetup.id, null);
    setKey(null);
    setRefused(wasRefused === true);
  };
  if (!key) {
    return html`<${Header} title=${meetup.title} />
      <main class="page narrow" id="main">
        <h1 class="title">${t('organize.heading')}: ${meetup.title}</h1>
        ${refused ? html`<p class="hint bad" role="alert">${t('organize.needKey.wrong')}</p>` : null}
        <${PasteKey} meetup=${meetup} onKey=${keep} />
      </main>`;
  }
  if (fresh) {
    return html`<${Header} title=${meetup.title} />
      <main class="page narrow" id="main">
        <h1 class="title">${t('organize.heading')}: ${meetup.title}</h1>
        <${KeyOnce} meetup=${meetup} organizerKeyValue=${key} onDone=${() => { sessionStorage.removeItem(freshFlag); setFresh(false); }} />
      </main>`;
  }
  return html`<${Console} meetup=${meetup} keyValue=${key} onForget=${forget} />`;
}
