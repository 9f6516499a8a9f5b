//! The outbox: posts and likes wait here (in localStorage, so a reload keeps
//! them) until the server has taken them. Each carries what makes a retry
//! harmless: a question its client-chosen id, a like the state it should end in
//! (PUT / DELETE are idempotent). Unreachable server → keep and retry with
//! backoff; the server refusing it → drop it and tell the view why.

import { asParticipant, ApiError, NetworkError } from './api.js';
import { load, save } from './store.js';

const KEY = 'outbox';
const MAX_DELAY_MS = 10_000;

let ops = load(KEY, []);
let running = false;
let attempt = 0;
let timer = null;
const listeners = new Set();

const persist = () => save(KEY, ops);
const notify = (event) => listeners.forEach((fn) => fn(event));

/** Operations not yet taken by the server, oldest first. */
export function pending() {
  return ops.slice();
}

/** Calls `fn({type, op, result?, error?})` on 'changed', 'sent' and 'failed'. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Queues a question: `{meetup, id, text, author_name}`. */
export function post(question) {
  ops.push({ kind: 'post', ...question });
  persist();
  notify({ type: 'changed' });
  flush();
}

/** Queues a like (`liked` true) or unlike; a newer wish replaces an unsent one. */
export function vote(meetup, question, liked) {
  ops = ops.filter((op) => !(op.kind === 'vote' && op.question === question));
  ops.push({ kind: 'vote', meetup, question, liked });
  persist();
  notify({ type: 'changed' });
  flush();
}

function send(op) {
  if (op.kind === 'post') {
    const body = { id: op.id, text: op.text };
    if (op.author_name) body.author_name = op.author_name;
    return asParticipant('POST', `/meetups/${op.meetup}/questions`, body);
  }
  return asParticipant(op.liked ? 'PUT' : 'DELETE', `/questions/${op.question}/vote`);
}

/** Sends what is queued, in order; called on every change and when back online. */
export async function flush() {
  if (running) return;
  running = true;
  clearTimeout(timer);
  try {
    while (ops.length > 0) {
      const op = ops[0];
      try {
        const result = await send(op);
        ops = ops.filter((o) => o !== op);
        persist();
        attempt = 0;
        notify({ type: 'sent', op, result });
      } catch (error) {
        if (error instanceof NetworkError || (error instanceof ApiError && error.retryable)) {
          const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** attempt);
          attempt += 1;
          timer = setTimeout(flush, delay);
          return;
        }
        ops = ops.filter((o) => o !== op);
        persist();
        notify({ type: 'failed', op, error });
      }
    }
  } finally {
    running = false;
    notify({ type: 'changed' });
  }
}

window.addEventListener('online', () => {
  attempt = 0;
  flush();
});
