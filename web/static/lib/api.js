//! The JSON API under /api/v1, as the views use it. Errors come back as
//! `ApiError` (the server answered: problem+json) or `NetworkError` (it could not
//! be reached: offline, blocked, or the server is down), because the outbox
//! retries the second kind and gives up on the first.

import { load, save } from './store.js';

const BASE = '/api/v1';

/** The server answered with an error status. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }

  /** Worth trying again later (the server is overloaded or its store is down). */
  get retryable() {
    return this.status === 503 || this.status === 502 || this.status === 504 || this.status === 429;
  }
}

/** The server could not be reached. */
export class NetworkError extends Error {}

/** Sends one request; `auth` is a bearer credential or null. */
export async function request(method, path, { body, auth } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (auth) headers.authorization = `Bearer ${auth}`;
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    throw new NetworkError(String(error && error.message));
  }
  let data = null;
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** The file name a response's Content-Disposition gives, or `fallback`. */
function fileNameOf(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') || '');
  return match ? match[1] : fallback;
}

/**
 * Downloads a file the server makes for a credential (an export): the file as a
 * Blob, its name, and the position it reflects.
 */
export async function download(path, auth) {
  let response;
  try {
    response = await fetch(BASE + path, {
      headers: { authorization: `Bearer ${auth}` },
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    throw new NetworkError(String(error && error.message));
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data);
  }
  const blob = await response.blob();
  return {
    blob,
    fileName: fileNameOf(response, 'qicoo-export'),
    position: response.headers.get('qicoo-position'),
  };
}

let pendingParticipant = null;

/** This browser's participant token, obtained on first use and kept. */
export async function participantToken() {
  const kept = load('participant', null);
  if (kept && kept.token) return kept.token;
  if (!pendingParticipant) {
    pendingParticipant = request('POST', '/participants')
      .then((created) => {
        save('participant', created);
        return created.token;
      })
      .finally(() => {
        pendingParticipant = null;
      });
  }
  return pendingParticipant;
}

/**
 * A request as this browser's participant. A token the server no longer accepts
 * (its secret changed) is replaced once and the request sent again.
 */
export async function asParticipant(method, path, body) {
  const token = await participantToken();
  try {
    return await request(method, path, { body, auth: token });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      save('participant', undefined);
      return request(method, path, { body, auth: await participantToken() });
    }
    throw error;
  }
}

/** The meetup with this join code or id, or null when there is none. */
export async function findMeetup(codeOrId) {
  try {
    return await request('GET', `/meetups/${encodeURIComponent(codeOrId)}`);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422 || error.status === 400)) {
      return null;
    }
    throw error;
  }
}

/** Every question of a meetup that `auth` may see, following the pages. */
export async function allQuestions(meetupId, auth, sort = 'recent') {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 50; page += 1) {
    const query = new URLSearchParams({ sort, limit: '100' });
    if (cursor) query.set('cursor', cursor);
    const data = await request('GET', `/meetups/${meetupId}/questions?${query}`, { auth });
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) return { items, position: data.position };
  }
  return { items, position: 0 };
}
