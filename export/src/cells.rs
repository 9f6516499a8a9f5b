//! The cell model every format writes: each row type names its columns
//! (snake_case, stable: scripts and spreadsheets rely on them) and turns into
//! typed cells, so that CSV, JSON Lines and Excel agree on what a table holds.
//!
//! | table | columns |
//! |---|---|
//! | `questions` | `id`, `text`, `author_name`, `status`, `likes`, `answered`, `highlighted`, `posted_at`, `answered_at`, `time_to_answer_s`, `edits` |
//! | `votes` | `position`, `question_id`, `participant`, `at`, `action` |
//! | `activity` | `minute`, `questions`, `likes`, `active_participants` |
//! | `moderation` | `position`, `at`, `action`, `actor`, `question_id`, `reason` |
//! | `summary` | `metric`, `value`, `question_id`, `question_text`, `question_answered` |
//!
//! # The summary table
//!
//! A [`Summary`] is written as rows of (`metric`, `value`), one per figure, in
//! this order: `participants`, `posters`, `voters`, `questions`, `likes`,
//! `posted_share`, `liked_share` (shares are fractions, 0..=1), `answered`,
//! `median_time_to_answer_s` (empty when nothing was answered). Then one row
//! per top question, `top_1`, `top_2`, … in rank order, whose `value` is the
//! question's likes and whose `question_id`, `question_text` and
//! `question_answered` say which question it is. Those three columns are empty
//! on the figure rows.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use qicoo_projections::audit::tables::{
    ActivityRow, ExportHeader, ModerationRow, QuestionRow, Summary, Table, VoteRow,
};

/// One typed value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// A UTC instant; data files write it as ISO 8601 with seconds
    /// (`2026-12-07T20:15:03Z`), see [`iso_time`].
    Time(DateTime<Utc>),
    /// No value (an absent optional field).
    Empty,
}

impl<'a> Cell<'a> {
    /// A text cell borrowing `s`.
    pub fn text(s: &'a str) -> Self {
        Self::Text(Cow::Borrowed(s))
    }

    /// A text cell, or [`Cell::Empty`] for `None`.
    pub fn opt_text(s: Option<&'a str>) -> Self {
        s.map_or(Self::Empty, Self::text)
    }

    /// A time cell, or [`Cell::Empty`] for `None`.
    pub fn opt_time(t: Option<DateTime<Utc>>) -> Self {
        t.map_or(Self::Empty, Self::Time)
    }

    /// An integer cell, or [`Cell::Empty`] for `None`.
    pub fn opt_integer(n: Option<i64>) -> Self {
        n.map_or(Self::Empty, Self::Integer)
    }

    /// The same cell owning its text (for writers that hold rows back).
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Self::Text(s) => Cell::Text(Cow::Owned(s.into_owned())),
            Self::Integer(n) => Cell::Integer(n),
            Self::Float(x) => Cell::Float(x),
            Self::Bool(b) => Cell::Bool(b),
            Self::Time(t) => Cell::Time(t),
            Self::Empty => Cell::Empty,
        }
    }
}

/// What kind of values a column holds (the Excel writer picks widths and
/// number formats by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    /// Integers or fractions (the summary's `value`).
    Number,
    Bool,
    Time,
}

/// One column of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The header: snake_case, stable across releases.
    pub name: &'static str,
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// A row of one of the export's tables.
pub trait Row {
    /// The table it belongs to.
    const TABLE: Table;
    /// The table's columns, in order.
    const COLUMNS: &'static [Column];
    /// The row's cells, one per column, in column order.
    fn cells(&self) -> Vec<Cell<'_>>;
}

impl Row for QuestionRow {
    const TABLE: Table = Table::Questions;
    const COLUMNS: &'static [Column] = &[
        col("id", Kind::Text),
        col("text", Kind::Text),
        col("author_name", Kind::Text),
        col("status", Kind::Text),
        col("likes", Kind::Integer),
        col("answered", Kind::Bool),
        col("highlighted", Kind::Bool),
        col("posted_at", Kind::Time),
        col("answered_at", Kind::Time),
        col("time_to_answer_s", Kind::Integer),
        col("edits", Kind::Integer),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::text(&self.id),
            Cell::text(&self.text),
            Cell::opt_text(self.author_name.as_deref()),
            Cell::text(self.status),
            Cell::Integer(self.likes),
            Cell::Bool(self.answered),
            Cell::Bool(self.highlighted),
            Cell::Time(self.posted_at),
            Cell::opt_time(self.answered_at),
            Cell::opt_integer(self.time_to_answer_s),
            Cell::Integer(self.edits),
        ]
    }
}

impl Row for VoteRow {
    const TABLE: Table = Table::Votes;
    const COLUMNS: &'static [Column] = &[
        col("position", Kind::Integer),
        col("question_id", Kind::Text),
        col("participant", Kind::Text),
        col("at", Kind::Time),
        col("action", Kind::Text),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Integer(self.position),
            Cell::text(&self.question_id),
            Cell::text(&self.participant),
            Cell::Time(self.at),
            Cell::text(self.action.as_str()),
        ]
    }
}

impl Row for ActivityRow {
    const TABLE: Table = Table::Activity;
    const COLUMNS: &'static [Column] = &[
        col("minute", Kind::Time),
        col("questions", Kind::Integer),
        col("likes", Kind::Integer),
        col("active_participants", Kind::Integer),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Time(self.minute),
            Cell::Integer(self.questions),
            Cell::Integer(self.likes),
            Cell::Integer(self.active_participants),
        ]
    }
}

impl Row for ModerationRow {
    const TABLE: Table = Table::Moderation;
    const COLUMNS: &'static [Column] = &[
        col("position", Kind::Integer),
        col("at", Kind::Time),
        col("action", Kind::Text),
        col("actor", Kind::Text),
        col("question_id", Kind::Text),
        col("reason", Kind::Text),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Integer(self.position),
            Cell::Time(self.at),
            Cell::text(self.action),
            Cell::text(self.actor),
            Cell::opt_text(self.question_id.as_deref()),
            Cell::opt_text(self.reason.as_deref()),
        ]
    }
}

/// The question a summary row names (top questions only).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryQuestion<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub answered: bool,
}

/// One row of the summary table: a figure, or a top question (see the
/// module docs for the shape).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow<'a> {
    /// `participants` … `median_time_to_answer_s`, or `top_<rank>`.
    pub metric: Cow<'a, str>,
    pub value: Cell<'a>,
    /// Set on the `top_<rank>` rows.
    pub question: Option<SummaryQuestion<'a>>,
}

impl Row for SummaryRow<'_> {
    const TABLE: Table = Table::Summary;
    const COLUMNS: &'static [Column] = &[
        col("metric", Kind::Text),
        col("value", Kind::Number),
        col("question_id", Kind::Text),
        col("question_text", Kind::Text),
        col("question_answered", Kind::Bool),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        let metric = Cell::text(&self.metric);
        match &self.question {
            Some(q) => vec![
                metric,
                self.value.clone(),
                Cell::text(q.id),
                Cell::text(q.text),
                Cell::Bool(q.answered),
            ],
            None => vec![
                metric,
                self.value.clone(),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
            ],
        }
    }
}

/// The prefix of the metric of a top question's row (`top_1`, `top_2`, …).
pub const TOP_METRIC_PREFIX: &str = "top_";

/// The summary as rows of the summary table: the figures, then the top
/// questions in rank order.
pub fn summary_rows(summary: &Summary) -> Vec<SummaryRow<'_>> {
    let figure = |metric: &'static str, value: Cell<'static>| SummaryRow {
        metric: Cow::Borrowed(metric),
        value,
        question: None,
    };
    let mut rows = vec![
        figure("participants", Cell::Integer(summary.participants)),
        figure("posters", Cell::Integer(summary.posters)),
        figure("voters", Cell::Integer(summary.voters)),
        figure("questions", Cell::Integer(summary.questions)),
        figure("likes", Cell::Integer(summary.likes)),
        figure("posted_share", Cell::Float(summary.posted_share)),
        figure("liked_share", Cell::Float(summary.liked_share)),
        figure("answered", Cell::Integer(summary.answered)),
        figure(
            "median_time_to_answer_s",
            summary
                .median_time_to_answer_s
                .map_or(Cell::Empty, Cell::Float),
        ),
    ];
    rows.extend(summary.top.iter().map(|q| SummaryRow {
        metric: Cow::Owned(format!("{TOP_METRIC_PREFIX}{}", q.rank)),
        value: Cell::Integer(q.likes),
        question: Some(SummaryQuestion {
            id: &q.id,
            text: &q.text,
            answered: q.answered,
        }),
    }));
    rows
}

/// The columns of `table`.
pub fn columns(table: Table) -> &'static [Column] {
    match table {
        Table::Questions => QuestionRow::COLUMNS,
        Table::Votes => VoteRow::COLUMNS,
        Table::Activity => ActivityRow::COLUMNS,
        Table::Moderation => ModerationRow::COLUMNS,
        Table::Summary => SummaryRow::COLUMNS,
    }
}

/// The [`ExportHeader`] as named cells, in this order: `meetup_id`, `code`,
/// `title`, `position`, `chain_head`, `as_of` (empty before the first event).
pub fn header_fields(header: &ExportHeader) -> [(&'static str, Cell<'_>); 6] {
    [
        ("meetup_id", Cell::text(&header.meetup_id)),
        ("code", Cell::text(&header.code)),
        ("title", Cell::text(&header.title)),
        ("position", Cell::Integer(header.position)),
        ("chain_head", Cell::text(&header.chain_head)),
        ("as_of", Cell::opt_time(header.as_of)),
    ]
}

/// A time as data files write it: UTC, ISO 8601, whole seconds
/// (`2026-12-07T20:15:03Z`).
pub fn iso_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Whether a spreadsheet would take `text` for a formula (or the start of
/// one): it begins with `=`, `+`, `-`, `@`, a tab or a carriage return.
pub fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `text` made inert for spreadsheets that open CSV files: a single quote
/// before anything that [looks like a formula](looks_like_formula) (the
/// OWASP rule), everything else unchanged.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if looks_like_formula(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_one_cell_per_column() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let q = QuestionRow {
            id: "q".into(),
            text: "t".into(),
            author_name: None,
            status: "published",
            likes: 1,
            answered: false,
            highlighted: false,
            posted_at: t,
            answered_at: None,
            time_to_answer_s: None,
            edits: 0,
        };
        assert_eq!(q.cells().len(), QuestionRow::COLUMNS.len());
        let m = ModerationRow {
            position: 1,
            at: t,
            action: "answer",
            actor: "organizer",
            question_id: None,
            reason: None,
        };
        assert_eq!(m.cells().len(), ModerationRow::COLUMNS.len());
        let a = ActivityRow {
            minute: t,
            questions: 1,
            likes: 2,
            active_participants: 3,
        };
        assert_eq!(a.cells().len(), ActivityRow::COLUMNS.len());
    }

    #[test]
    fn formula_lookalikes_get_a_quote_and_nothing_else_changes() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralize(bad), format!("'{bad}"));
        }
        for fine in ["hello", "1-1", "", "'quoted", "a=b"] {
            assert_eq!(neutralize(fine), fine);
        }
    }

    #[test]
    fn times_are_utc_with_whole_seconds() {
        let t = DateTime::from_timestamp(1_796_674_503, 250_000_000).unwrap_or_default();
        assert_eq!(iso_time(t), "2026-12-07T20:15:03Z");
    }
}
