//! Moving between views without a page load. A meetup passed along is shown as
//! it is, so one just created opens even before the read model has caught up.

/** Meetups handed over by `navigate`, by join code. */
export const known = new Map();

/** Goes to `path` (same origin) and tells the app to render it. */
export function navigate(path, meetup) {
  if (meetup) known.set(meetup.code, meetup);
  history.pushState(null, '', path);
  window.dispatchEvent(new Event('qicoo:navigate'));
}
