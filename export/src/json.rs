//! Cells as JSON values, and objects written field by field so that keys keep
//! the column order (a map would sort them).

use std::io::Write;

use crate::cells::{iso_time, Cell};
use crate::error::Result;

/// Writes `cell` as a JSON value: text and times as strings, numbers,
/// booleans, `null` for [`Cell::Empty`].
pub(crate) fn write_value(out: &mut Vec<u8>, cell: &Cell<'_>) -> Result<()> {
    match cell {
        Cell::Text(s) => serde_json::to_writer(&mut *out, s.as_ref())?,
        Cell::Integer(n) => write!(out, "{n}")?,
        // NaN and infinities have no JSON form; serde_json writes them as null.
        Cell::Float(x) => serde_json::to_writer(&mut *out, x)?,
        Cell::Bool(b) => write!(out, "{b}")?,
        Cell::Time(t) => serde_json::to_writer(&mut *out, &iso_time(*t))?,
        Cell::Empty => out.extend_from_slice(b"null"),
    }
    Ok(())
}

/// Writes one JSON object, its fields in the given order (no newline).
pub(crate) fn write_object<'a, 'c: 'a>(
    out: &mut Vec<u8>,
    fields: impl IntoIterator<Item = (&'a str, &'a Cell<'c>)>,
) -> Result<()> {
    out.push(b'{');
    for (i, (name, cell)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, name)?;
        out.push(b':');
        write_value(out, cell)?;
    }
    out.push(b'}');
    Ok(())
}
