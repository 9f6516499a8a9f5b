//! The attendee's phone view: ask (through the outbox, so nothing typed is
//! lost offline), like with an optimistic count that reconciles with the
//! stream, sort, and see one's own questions (editable, withdrawable, pending
//! review) beside everyone else's, live.

import { html, useState, useEffect, useRef, useMemo } from '../lib/html.js';
import { t, formatTime } from '../i18n.js';
import { allQuestions, asParticipant, participantToken, ApiError } from '../lib/api.js';
import { connectLive } from '../lib/live.js';
import * as outbox from '../lib/outbox.js';
import { initial, apply, byTop, byRecent } from '../lib/questions.js';
import { load, save, myQuestions, addMyQuestion } from '../lib/store.js';
import { uuid } from '../lib/uuid.js';
import { Header, ConnectionBadge, ErrorBanner, useError } from './common.js';

const MAX_TEXT = 1000;
const MAX_NAME = 40;
const OWN_POLL_MS = 10_000;

/** Enter pressed to confirm an IME conversion (Japanese input) must never submit. */
export function composing(event) {
  return event.isComposing || event.keyCode === 229;
}

function AskForm({ meetup }) {
  const [text, setText] = useState('');
  const [name, setName] = useState(() => load('name', ''));
  const length = [...text.trim()].length;
  const tooLong = length > MAX_TEXT;
  const submit = (event) => {
    event.preventDefault();
    if (length === 0 || tooLong) return;
    const id = uuid();
    const authorName = name.trim();
    save('name', authorName);
    addMyQuestion(meetup.id, id);
    outbox.post({ meetup: meetup.id, id, text: text.trim(), author_name: authorName || undefined });
    setText('');
  };
  const onKeyDown = (event) => {
    if (event.key !== 'Enter') return;
    if (composing(event)) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    // In the question box Enter is a new line; Ctrl/⌘+Enter sends.
    if (event.currentTarget.tagName === 'TEXTAREA' && (event.ctrlKey || event.metaKey)) submit(event);
  };
  return html`<section class="card" aria-labelledby="ask-heading">
    <h2 id="ask-heading">${t('attendee.ask.heading')}</h2>
    ${meetup.moderated ? html`<p class="hint">${t('attendee.moderated')}</p>` : null}
    <form class="stack" onSubmit=${submit}>
      <label>
        <span class="label">${t('attendee.ask.text')}</span>
        <textarea name="text" rows="3" value=${text} aria-invalid=${tooLong ? 'true' : 'false'}
          aria-describedby="ask-counter" onInput=${(e) => setText(e.currentTarget.value)} onKeyDown=${onKeyDown}></textarea>
      </label>
      <p id="ask-counter" class=${tooLong ? 'counter bad' : 'counter'} aria-label=${t('attendee.ask.counter.label', { n: length, max: MAX_TEXT })}>
        ${tooLong ? `${t('attendee.ask.tooLong', { max: MAX_TEXT })} ` : ''}${t('attendee.ask.counter', { n: length, max: MAX_TEXT })}
      </p>
      <div class="row wrap ask-send">
        <label class="grow">
          <span class="label">${t('attendee.ask.name')}</span>
          <input name="author_name" value=${name} maxlength=${MAX_NAME} autocomplete="nickname"
            onInput=${(e) => setName(e.currentTarget.value)} onKeyDown=${onKeyDown} />
        </label>
        <button type="submit" class="primary" disabled=${length === 0 || tooLong}>${t('attendee.ask.submit')}</button>
      </div>
    </form>
  </section>`;
}

function LikeButton({ question, liked, likes, disabled, onToggle }) {
  const label = liked ? t('question.unlike.label', { n: likes }) : t('question.like.label', { n: likes });
  return html`<button type="button" class=${liked ? 'like liked' : 'like'} aria-pressed=${liked ? 'true' : 'false'}
    aria-label=${label} title=${label} disabled=${disabled} onClick=${() => onToggle(question, !liked)}>
    <span aria-hidden="true">▲</span> <span class="count">${likes}</span>
  </button>`;
}

function OwnControls({ question, onError, onGone }) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [draft, setDraft] = useState(question.text);
  const save = async (event) => {
    event.preventDefault();
    try {
      await asParticipant('PATCH', `/questions/${question.id}`, { text: draft.trim() });
      setEditing(false);
    } catch (error) {
      onError(error);
    }
  };
  const withdraw = async () => {
    try {
      await asParticipant('DELETE', `/questions/${question.id}`);
      onGone(question.id);
    } catch (error) {
      onError(error);
    }
    setConfirming(false);
  };
  if (editing) {
    return html`<form class="stack edit" onSubmit=${save}>
      <label>
        <span class="label">${t('question.edit.label')}</span>
        <textarea rows="3" value=${draft} onInput=${(e) => setDraft(e.currentTarget.value)}
          onKeyDown=${(e) => e.key === 'Enter' && composing(e) && e.preventDefault()}></textarea>
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled=${!draft.trim() || [...draft.trim()].length > MAX_TEXT}>${t('question.save')}</button>
        <button type="button" onClick=${() => setEditing(false)}>${t('question.cancel')}</button>
      </div>
    </form>`;
  }
  if (confirming) {
    return html`<div class="row confirm" role="group" aria-label=${t('question.withdraw.confirm')}>
      <span>${t('question.withdraw.confirm')}</span>
      <button type="button" class="danger" onClick=${withdraw}>${t('question.withdraw.yes')}</button>
      <button type="button" onClick=${() => setConfirming(false)}>${t('question.cancel')}</button>
    </div>`;
  }
  return html`<div class="row">
    ${question.answered ? null : html`<button type="button" class="link" onClick=${() => { setDraft(question.text); setEditing(true); }}>${t('question.edit')}</button>`}
    <button type="button" class="link" onClick=${() => setConfirming(true)}>${t('question.withdraw')}</button>
  </div>`;
}

function QuestionItem({ question, mine, liked, likes, canLike, onToggle, onError, onGone }) {
  const status = question.sending
    ? t('question.sending')
    : question.status === 'pending'
      ? t('question.pendingReview')
      : question.status === 'rejected'
        ? t('question.rejected')
        : null;
  const classes = ['question', question.highlighted ? 'highlighted' : '', question.sending ? 'sending' : '', mine ? 'mine' : ''];
  return html`<li class=${classes.join(' ')} data-key=${question.id}>
    <div class="q-main">
      ${question.highlighted ? html`<p class="badge badge-hl">${t('question.highlighted')}</p>` : null}
      <p class="q-text">${question.text}</p>
      <p class="q-meta">
        <span>${question.author_name || t('question.anonymous')}</span>
        ${question.created_at ? html`<time datetime=${question.created_at}>${formatTime(question.created_at)}</time>` : null}
        ${mine ? html`<span class="badge">${t('question.mine')}</span>` : null}
        ${question.answered ? html`<span class="badge badge-ok">${t('question.answered')}</span>` : null}
        ${status ? html`<span class="badge badge-wait">${status}</span>` : null}
      </p>
      ${mine && !question.sending && question.status !== 'rejected' && canLike !== 'archived'
        ? html`<${OwnControls} question=${question} onError=${onError} onGone=${onGone} />`
        : null}
    </div>
    ${question.status === 'published' || question.sending
      ? html`<${LikeButton} question=${question} liked=${liked} likes=${likes}
          disabled=${canLike !== true || question.status !== 'published'} onToggle=${onToggle} />`
      : null}
  </li>`;
}

/** The attendee view of one meetup. */
export default function Attendee({ meetup: first }) {
  const [state, setState] = useState(() => initial(first));
  const [conn, setConn] = useState('connecting');
  const [sort, setSort] = useState(() => load('sort', 'top'));
  const [ops, setOps] = useState(outbox.pending());
  const [likedByMe, setLikedByMe] = useState(() => new Map());
  const [confirmed, setConfirmed] = useState(() => new Map());
  const [own, setOwn] = useState(() => new Map());
  const [error, setError, clearError] = useError();
  const mine = useMemo(() => myQuestions(first.id), [ops, own]);
  const ownRef = useRef(own);
  ownRef.current = own;
  const meetup = state.meetup;

  // What the server knows about me: likes and my own unpublished questions.
  const refreshMine = async () => {
    try {
      const token = await participantToken();
      const { items } = await allQuestions(first.id, token, 'recent');
      const kept = myQuestions(first.id);
      setLikedByMe(new Map(items.map((q) => [q.id, q.liked_by_me === true])));
      setOwn((before) => {
        const next = new Map(before);
        for (const q of items) if (kept.has(q.id)) next.set(q.id, q);
        return next;
      });
    } catch {
      // Offline: the stream and the outbox carry on; the next snapshot retries.
    }
  };

  useEffect(() => {
    const live = connectLive(first.id, {
      onState: (s) => {
        setConn(s);
        if (s === 'live') outbox.flush();
      },
      onFrame: (frame) => {
        setState((s) => apply(s, frame));
        if (frame.type === 'snapshot') refreshMine();
      },
    });
    const unsubscribe = outbox.subscribe((event) => {
      setOps(outbox.pending());
      if (event.type === 'sent' && event.op.kind === 'post' && event.result) {
        const q = event.result.question;
        setOwn((before) => new Map(before).set(q.id, { ...q, sentAt: event.result.position }));
      }
      if (event.type === 'sent' && event.op.kind === 'vote' && event.result) {
        setConfirmed((before) => new Map(before).set(event.op.question, event.result));
      }
      if (event.type === 'failed') setError(event.error);
    });
    outbox.flush();
    return () => {
      live.close();
      unsubscribe();
    };
  }, []);

  // Own questions awaiting review are not on the public stream: ask for them now and then.
  useEffect(() => {
    const timer = setInterval(async () => {
      for (const q of ownRef.current.values()) {
        if (q.status !== 'pending') continue;
        try {
          const now = await asParticipant('GET', `/questions/${q.id}`);
          setOwn((before) => new Map(before).set(now.id, now));
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) {
            setOwn((before) => new Map(before).set(q.id, { ...q, status: 'rejected' }));
          }
        }
      }
    }, OWN_POLL_MS);
    return () => clearInterval(timer);
  }, []);

  const pendingVotes = new Map(ops.filter((op) => op.kind === 'vote').map((op) => [op.question, op.liked]));
  const serverLiked = (id) => {
    const c = confirmed.get(id);
    if (c) return c.liked;
    return likedByMe.get(id) === true;
  };
  // Whether the count the stream last sent already includes my like.
  const reflected = (id) => {
    const c = confirmed.get(id);
    if (c && state.position < c.position) return !c.liked;
    return serverLiked(id);
  };
  const likedNow = (id) => (pendingVotes.has(id) ? pendingVotes.get(id) : serverLiked(id));
  const likesNow = (q) => Math.max(0, q.likes + (likedNow(q.id) ? 1 : 0) - (reflected(q.id) ? 1 : 0));

  const toggle = (question, liked) => outbox.vote(first.id, question.id, liked);
  const forget = (id) =>
    setOwn((before) => {
      const next = new Map(before);
      next.delete(id);
      return next;
    });

  // Everyone's published questions, plus mine the stream does not carry (yet).
  const shown = new Map(state.questions);
  for (const q of own.values()) {
    if (shown.has(q.id)) continue;
    if (q.status === 'pending' || q.status === 'rejected') shown.set(q.id, q);
    else if (q.status === 'published' && state.position < (q.sentAt ?? 0)) shown.set(q.id, q);
  }
  for (const op of ops) {
    if (op.kind === 'post' && op.meetup === first.id && !shown.has(op.id)) {
      shown.set(op.id, {
        id: op.id, text: op.text, author_name: op.author_name, likes: 0, status: 'pending',
        answered: false, highlighted: false, created_at: null, sending: true,
      });
    }
  }
  const all = [...shown.values()];
  const order = sort === 'recent' ? byRecent : byTop;
  const highlighted = all.filter((q) => q.highlighted && !q.answered && q.status === 'published');
  const open = all.filter((q) => !q.answered && !highlighted.includes(q)).sort(order);
  const answered = all.filter((q) => q.answered).sort(order);

  const canLike = meetup.archived ? 'archived' : true;
  const item = (q) => html`<${QuestionItem} key=${q.id} question=${q} mine=${mine.has(q.id)} liked=${likedNow(q.id)}
    likes=${likesNow(q)} canLike=${canLike} onToggle=${toggle} onError=${setError} onGone=${forget} />`;
  const chooseSort = (next) => {
    setSort(next);
    save('sort', next);
  };
  const waiting = ops.filter((op) => op.meetup === first.id).length;

  return html`<${Header} title=${meetup.title}>
      <${ConnectionBadge} state=${conn} />
    </${Header}>
    <main class="page narrow" id="main">
      <h1 class="title">${meetup.title}</h1>
      <${ErrorBanner} message=${error} onDismiss=${clearError} />
      ${meetup.archived
        ? html`<p class="notice" role="status">${t('attendee.archived')}</p>`
        : !meetup.qa_open
          ? html`<p class="notice" role="status">${t('attendee.closed')}</p>`
          : html`<${AskForm} meetup=${meetup} />`}
      ${waiting > 0 ? html`<p class="hint" role="status">${t('outbox.pending', { n: waiting })}</p>` : null}
      <section aria-labelledby="questions-heading">
        <div class="row between">
          <h2 id="questions-heading">${t('attendee.questions.heading')}</h2>
          <div class="segmented" role="group" aria-label=${t('attendee.sort.label')}>
            <button type="button" aria-pressed=${sort === 'top' ? 'true' : 'false'} onClick=${() => chooseSort('top')}>${t('attendee.sort.top')}</button>
            <button type="button" aria-pressed=${sort === 'recent' ? 'true' : 'false'} onClick=${() => chooseSort('recent')}>${t('attendee.sort.recent')}</button>
          </div>
        </div>
        ${highlighted.length + open.length === 0
          ? html`<p class="empty">${t('attendee.empty')}</p>`
          : html`<ul class="questions" aria-label=${t('attendee.questions.heading')}>${highlighted.map(item)}${open.map(item)}</ul>`}
      </section>
      ${answered.length > 0
        ? html`<section aria-labelledby="answered-heading">
            <h2 id="answered-heading">${t('attendee.answered.heading')}</h2>
            <ul class="questions answered" aria-label=${t('attendee.answered.heading')}>${answered.map(item)}</ul>
          </section>`
        : null}
    </main>`;
}
