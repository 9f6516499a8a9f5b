//! A meetup's live state as the stream describes it, and the orders the views
//! show questions in. `apply` folds one frame into the state; any snapshot
//! replaces everything (the stream sends one after a gap it cannot fill).

/** The empty state before the first frame. */
export function initial(meetup) {
  return { meetup, questions: new Map(), leaderboard: [], position: -1 };
}

/** The state after `frame` (a new object; the old one is not changed). */
export function apply(state, frame) {
  if (frame.type === 'snapshot') {
    return {
      meetup: frame.meetup || state.meetup,
      questions: new Map((frame.questions || []).map((q) => [q.id, q])),
      leaderboard: frame.leaderboard || [],
      position: frame.position,
    };
  }
  if (frame.type !== 'changes') return state;
  const next = { ...state, questions: new Map(state.questions), position: frame.position };
  for (const change of frame.changes || []) {
    switch (change.type) {
      case 'question.upserted':
        next.questions.set(change.question.id, change.question);
        break;
      case 'question.removed':
        next.questions.delete(change.id);
        break;
      case 'meetup.updated':
        next.meetup = change.meetup;
        break;
      case 'leaderboard':
        next.leaderboard = change.items || [];
        break;
      default:
        break;
    }
  }
  return next;
}

const time = (q) => (q.created_at ? Date.parse(q.created_at) : Number.MAX_SAFE_INTEGER);

/** Most liked first; among equals the earlier question first (the server's rule). */
export function byTop(a, b) {
  return b.likes - a.likes || time(a) - time(b) || (a.id < b.id ? -1 : 1);
}

/** Newest first. */
export function byRecent(a, b) {
  return time(b) - time(a) || (a.id < b.id ? 1 : -1);
}

/**
 * The questions a screen ranks: published and unanswered, in the stream's
 * leaderboard order first, then the rest by likes.
 */
export function ranked(state) {
  const open = [...state.questions.values()].filter((q) => q.status === 'published' && !q.answered);
  const rank = new Map(state.leaderboard.map((id, i) => [id, i]));
  return open.sort((a, b) => {
    const ra = rank.has(a.id) ? rank.get(a.id) : Infinity;
    const rb = rank.has(b.id) ? rank.get(b.id) : Infinity;
    if (ra !== rb) return ra - rb;
    return byTop(a, b);
  });
}
