//! Client-chosen ids (UUID v4). `crypto.randomUUID` exists only in secure
//! contexts, and a venue's Wi-Fi often serves Qicoo over plain http on a LAN
//! address, so this builds one from `crypto.getRandomValues`, which works anywhere.

/** A new random UUID (version 4), as text. */
export function uuid() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
