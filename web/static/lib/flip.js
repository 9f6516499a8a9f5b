//! FLIP reordering for lists that change order: each keyed child that moved
//! starts where it was and glides to its new place, so a projector's list does
//! not jump. Positions come from `offsetTop`, which ignores running transforms.

const DURATION_MS = 600;

/**
 * After each render, animates the children of `container` (elements with a
 * `data-key`) from their previous positions; `previous` is a Map kept by the caller.
 */
export function flip(container, previous) {
  if (!container) return;
  const reduce = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  const items = [...container.querySelectorAll(':scope > [data-key]')];
  const now = new Map(items.map((el) => [el.dataset.key, el.offsetTop]));
  if (!reduce) {
    for (const el of items) {
      const before = previous.get(el.dataset.key);
      const after = now.get(el.dataset.key);
      if (before === undefined || before === after) continue;
      el.style.transition = 'none';
      el.style.transform = `translateY(${before - after}px)`;
      // Reading layout here makes the browser apply the start position first.
      void el.offsetHeight;
      el.style.transition = `transform ${DURATION_MS}ms ease`;
      el.style.transform = '';
    }
  }
  previous.clear();
  now.forEach((top, key) => previous.set(key, top));
}
