//! The live stream client: one WebSocket per view that resumes with `?after=`
//! the last position it saw, reconnects with capped exponential backoff (with
//! jitter, so a room of phones does not reconnect in lockstep) and reports its
//! state for the connection badge. An organizer authenticates with its first
//! message, never in the URL.

const MAX_DELAY_MS = 10_000;

/**
 * Opens the live stream of a meetup.
 * `onFrame(frame)` gets every v1 frame; `onState(state)` gets 'connecting',
 * 'live' or 'offline'; `onAuth(ok)` tells an organizer whether its key was taken.
 * Returns `{close, reconnect}`.
 */
export function connectLive(meetupId, { organizerKey, onFrame, onState, onAuth }) {
  let socket = null;
  let position = null;
  let attempt = 0;
  let timer = null;
  let stopped = false;

  const url = () => {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const after = position === null ? '' : `?after=${position}`;
    return `${scheme}//${location.host}/api/v1/meetups/${encodeURIComponent(meetupId)}/live${after}`;
  };

  const schedule = () => {
    clearTimeout(timer);
    const delay = Math.min(MAX_DELAY_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    timer = setTimeout(open, delay);
  };

  function open() {
    if (stopped) return;
    clearTimeout(timer);
    onState('connecting');
    let ws;
    try {
      ws = new WebSocket(url());
    } catch {
      onState('offline');
      schedule();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      if (organizerKey) ws.send(JSON.stringify({ type: 'auth', organizer_key: organizerKey }));
    };
    ws.onmessage = (event) => {
      if (socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || frame.v !== 1) return;
      if (frame.type === 'auth') {
        if (onAuth) onAuth(frame.ok === true);
        return;
      }
      if (typeof frame.position === 'number') position = Math.max(position ?? 0, frame.position);
      if (frame.type === 'snapshot' || frame.type === 'changes') {
        attempt = 0;
        onState('live');
      }
      onFrame(frame);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (stopped) return;
      if (event.code === 1008 && organizerKey && onAuth) onAuth(false);
      onState('offline');
      schedule();
    };
  }

  const reconnect = () => {
    if (stopped) return;
    attempt = 0;
    if (socket && socket.readyState <= 1) return;
    open();
  };
  const wentOffline = () => {
    if (socket) {
      const ws = socket;
      socket = null;
      ws.close();
    }
    onState('offline');
    schedule();
  };
  window.addEventListener('online', reconnect);
  window.addEventListener('offline', wentOffline);
  open();

  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      window.removeEventListener('online', reconnect);
      window.removeEventListener('offline', wentOffline);
      if (socket) socket.close(1000);
      socket = null;
    },
    reconnect,
  };
}
