//! A byte buffer shared between an encoder that owns its output (the `csv`
//! and `zip` writers) and the export writer that hands the bytes on, so the
//! export writer can own the caller's `Write` and lend it out between rows.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

/// A cloneable in-memory sink; every clone shares the same bytes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spool(Arc<Mutex<Vec<u8>>>);

impl Spool {
    /// Moves what was written so far into `out`.
    pub(crate) fn drain_into<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let mut buf = self.lock();
        if !buf.is_empty() {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A poisoned buffer still holds valid bytes.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
