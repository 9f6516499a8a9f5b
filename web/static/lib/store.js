//! What this browser remembers, in localStorage: the participant token, the
//! display name, organizer keys per meetup, the ids of one's own questions and
//! the outbox. Every read tolerates storage being unavailable or corrupted.

const PREFIX = 'qicoo.';

/** The JSON value stored under `key`, or `fallback`. */
export function load(key, fallback) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** Stores `value` as JSON under `key` (`undefined` removes it). */
export function save(key, value) {
  try {
    if (value === undefined) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the value lasts for this page only.
  }
}

/** The organizer key kept for a meetup, if any. */
export function organizerKey(meetupId) {
  return load(`organizer.${meetupId}`, null);
}

/** Keeps (or, with `null`, forgets) the organizer key of a meetup. */
export function setOrganizerKey(meetupId, key, code) {
  save(`organizer.${meetupId}`, key ?? undefined);
  const mine = load('organizing', {});
  if (key) mine[meetupId] = code;
  else delete mine[meetupId];
  save('organizing', mine);
}

/** Meetups this browser holds a key for: `{id: code}`. */
export function organizing() {
  return load('organizing', {});
}

/** Ids of the questions this browser posted, per meetup. */
export function myQuestions(meetupId) {
  return new Set(load(`mine.${meetupId}`, []));
}

/** Remembers that this browser posted question `id`. */
export function addMyQuestion(meetupId, id) {
  const mine = myQuestions(meetupId);
  mine.add(id);
  save(`mine.${meetupId}`, [...mine]);
}
