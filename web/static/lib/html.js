//! Preact with htm: components are written as tagged templates, so there is no
//! build step. Text interpolated into a template is always a text node, never HTML.

import { h, render } from '../vendor/preact.js';
import htm from '../vendor/htm.js';

/** The template tag every view uses. */
export const html = htm.bind(h);
export { render };
export { useState, useEffect, useRef, useMemo, useCallback, useLayoutEffect } from '../vendor/hooks.js';
