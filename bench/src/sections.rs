//! Sections of BENCHMARKS.md that scenarios run on their own write (the soak,
//! the export): each replaces its own section and leaves the rest alone.

/// `document` with the section under `heading` (`## Name`) replaced by
/// `section`, or the section added before "## Running it", or at the end.
pub fn splice(document: &str, heading: &str, section: &str) -> String {
    let section = section.trim_end();
    let start = document
        .match_indices(heading)
        .find(|(i, _)| {
            (*i == 0 || document[..*i].ends_with('\n'))
                && document[i + heading.len()..].starts_with('\n')
        })
        .map(|(i, _)| i);
    if let Some(start) = start {
        let rest = &document[start + heading.len()..];
        let end = rest
            .find("\n## ")
            .map_or(document.len(), |j| start + heading.len() + j + 1);
        let after = &document[end..];
        let sep = if after.is_empty() { "\n" } else { "\n\n" };
        return format!("{}{section}{sep}{after}", &document[..start]);
    }
    match document.find("\n## Running it") {
        Some(i) => format!("{}{section}\n\n{}", &document[..=i], &document[i + 1..]),
        None => format!("{}\n\n{section}\n", document.trim_end()),
    }
}
