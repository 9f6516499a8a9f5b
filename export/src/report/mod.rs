//! The HTML report: one self-contained page (inline CSS and SVG, no script,
//! no external resource; a Content-Security-Policy says so to the browser)
//! that prints well.
//!
//! Sections, in order: the meetup's title; what the report reflects (the
//! [`ExportHeader`], with position and chain head); the summary figures;
//! activity over time; likes per question (the published questions with the
//! most likes); time to answer; then every question, by likes and then by
//! time posted. Times are shown in the caller's time zone offset; every
//! visible string comes from [`crate::i18n`]; all user text is escaped.

mod svg;

use std::fmt::Write as _;
use std::io::Write;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use qicoo_projections::audit::tables::{ActivityRow, ExportHeader, QuestionRow, Summary};

use crate::error::Result;
use crate::i18n::{Lang, Text};

/// How many questions the likes chart shows at most.
pub const LIKES_CHART_QUESTIONS: usize = 20;

/// What the report shows: the export's already aggregated data.
#[derive(Clone, Copy, Debug)]
pub struct ReportData<'a> {
    pub header: &'a ExportHeader,
    pub summary: &'a Summary,
    pub activity: &'a [ActivityRow],
    /// Every question, in any order (the report sorts them).
    pub questions: &'a [QuestionRow],
}

/// How the report is shown.
#[derive(Clone, Copy, Debug)]
pub struct ReportOptions {
    pub lang: Lang,
    /// The time zone offset the report's times are shown in.
    pub offset: FixedOffset,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            lang: Lang::En,
            offset: Utc.fix(),
        }
    }
}

/// Writes the report to `out`.
pub fn write_report<W: Write>(
    mut out: W,
    data: &ReportData<'_>,
    options: &ReportOptions,
) -> Result<()> {
    let html = render(data, options);
    out.write_all(html.as_bytes())?;
    out.flush()?;
    Ok(())
}

const STYLE: &str = r#"
:root{--ink:#1d2430;--muted:#5b6575;--line:#d8dde5;--s1:#2f6fdb;--s2:#e0793a;--bg:#fff}
*{box-sizing:border-box}
body{margin:0 auto;max-width:60rem;padding:2rem 1.5rem;font:15px/1.5 system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans JP",sans-serif;color:var(--ink);background:var(--bg)}
h1{font-size:1.8rem;margin:0}
h2{font-size:1.2rem;margin:2rem 0 .6rem;padding-bottom:.2rem;border-bottom:2px solid var(--line)}
.subtitle,.note{color:var(--muted);margin:.2rem 0 .8rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.6rem;margin:0}
.figure{border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem}
.figure dt{color:var(--muted);font-size:.85rem}
.figure dd{margin:0;font-size:1.4rem;font-weight:600}
svg.chart{width:100%;height:auto;display:block}
svg .s1{fill:var(--s1)} svg .s2{fill:var(--s2)}
svg .grid{stroke:var(--line);stroke-width:1}
svg text{font-size:12px;fill:var(--ink)}
svg .yaxis{text-anchor:end;fill:var(--muted)}
svg .axis{fill:var(--muted)}
svg .tick{text-anchor:middle}
svg .label{text-anchor:end}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;vertical-align:top;padding:.35rem .4rem;border-bottom:1px solid var(--line)}
th{font-size:.85rem;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{white-space:pre-wrap;overflow-wrap:anywhere;min-width:16em}
td.time{white-space:nowrap}
.tag{display:inline-block;font-size:.75rem;border:1px solid var(--line);border-radius:4px;padding:0 .3rem;margin:.1rem .2rem 0 0;color:var(--muted)}
.tag.answered{border-color:var(--s1);color:var(--s1)}
.empty{color:var(--muted);font-style:italic}
@media print{
body{max-width:none;padding:0;font-size:11pt}
h2{break-after:avoid}
section:not(#questions),.figure,svg.chart,tr{break-inside:avoid}
thead{display:table-header-group}
a{color:inherit;text-decoration:none}
}
"#;

fn render(data: &ReportData<'_>, options: &ReportOptions) -> String {
    let t = options.lang.text();
    let offset = options.offset;
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("{} — {}", data.header.title, t.report);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        options.lang.as_str(),
        escape(&title)
    );
    let _ = write!(
        h,
        "<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n</header>\n",
        escape(&data.header.title),
        escape(t.report)
    );
    header_section(&mut h, data.header, offset, t);
    figures_section(&mut h, data.summary, t);
    activity_section(&mut h, data.activity, offset, t);
    let ordered = ordered(data.questions);
    likes_section(&mut h, &ordered, t);
    time_to_answer_section(&mut h, data.questions, t);
    questions_section(&mut h, &ordered, offset, t);
    h.push_str("</body>\n</html>\n");
    h
}

fn header_section(h: &mut String, header: &ExportHeader, offset: FixedOffset, t: &Text) {
    let as_of = match header.as_of {
        Some(at) => escape(&local(at, offset, "%Y-%m-%d %H:%M:%S")),
        None => escape(t.no_events),
    };
    let _ = write!(
        h,
        "<section id=\"export\">\n<h2>{}</h2>\n<dl class=\"meta\">\n\
         <dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd><code>{}</code></dd>\n\
         <dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd><code>{}</code></dd>\n\
         <dt>{}</dt><dd><code class=\"chain-head\">{}</code></dd>\n<dt>{}</dt><dd>UTC{}</dd>\n</dl>\n</section>\n",
        escape(t.export_heading),
        escape(t.as_of),
        as_of,
        escape(t.code),
        escape(&header.code),
        escape(t.position),
        header.position,
        escape(t.meetup_id),
        escape(&header.meetup_id),
        escape(t.chain_head),
        escape(&header.chain_head),
        escape(t.times_in),
        offset,
    );
}

fn figures_section(h: &mut String, s: &Summary, t: &Text) {
    let median = s
        .median_time_to_answer_s
        .filter(|x| x.is_finite())
        .map_or_else(|| t.none.to_owned(), |x| t.duration(x.round() as i64));
    let figures: [(&str, &str, String); 9] = [
        ("participants", t.participants, s.participants.to_string()),
        ("posters", t.posters, s.posters.to_string()),
        ("voters", t.voters, s.voters.to_string()),
        ("questions", t.questions, s.questions.to_string()),
        ("likes", t.likes, s.likes.to_string()),
        ("posted_share", t.posted_share, percent(s.posted_share)),
        ("liked_share", t.liked_share, percent(s.liked_share)),
        ("answered", t.answered, s.answered.to_string()),
        ("median_time_to_answer", t.median_time_to_answer, median),
    ];
    let _ = write!(
        h,
        "<section id=\"summary\">\n<h2>{}</h2>\n<dl class=\"figures\">\n",
        escape(t.figures_heading)
    );
    for (id, label, value) in figures {
        let _ = writeln!(
            h,
            "<div class=\"figure\" id=\"figure-{id}\"><dt>{}</dt><dd>{}</dd></div>",
            escape(label),
            escape(&value)
        );
    }
    h.push_str("</dl>\n</section>\n");
}

fn activity_section(h: &mut String, rows: &[ActivityRow], offset: FixedOffset, t: &Text) {
    let _ = writeln!(
        h,
        "<section id=\"activity\">\n<h2>{}</h2>",
        escape(t.activity_heading)
    );
    match svg::activity(rows, offset, t) {
        Some((chart, bin)) => {
            let _ = writeln!(
                h,
                "<p class=\"note\">{}</p>\n{chart}",
                escape(&t.per_minutes.replace("{n}", &bin.to_string()))
            );
        }
        None => {
            let _ = writeln!(h, "<p class=\"empty\">{}</p>", escape(t.no_data));
        }
    }
    h.push_str("</section>\n");
}

fn likes_section(h: &mut String, ordered: &[&QuestionRow], t: &Text) {
    let shown: Vec<&QuestionRow> = ordered
        .iter()
        .copied()
        .filter(|q| q.status == "published")
        .take(LIKES_CHART_QUESTIONS)
        .collect();
    let _ = writeln!(
        h,
        "<section id=\"likes\">\n<h2>{}</h2>",
        escape(t.likes_heading)
    );
    if shown.is_empty() {
        let _ = writeln!(h, "<p class=\"empty\">{}</p>", escape(t.no_questions));
    } else {
        let _ = writeln!(
            h,
            "<p class=\"note\">{}</p>\n{}",
            escape(&t.likes_note.replace("{n}", &shown.len().to_string())),
            svg::likes(&shown, t)
        );
    }
    h.push_str("</section>\n");
}

fn time_to_answer_section(h: &mut String, questions: &[QuestionRow], t: &Text) {
    let _ = writeln!(
        h,
        "<section id=\"time-to-answer\">\n<h2>{}</h2>",
        escape(t.time_to_answer_heading)
    );
    match svg::time_to_answer(questions, t) {
        Some(chart) => h.push_str(&chart),
        None => {
            let _ = write!(h, "<p class=\"empty\">{}</p>", escape(t.nothing_answered));
        }
    }
    h.push_str("\n</section>\n");
}

fn questions_section(h: &mut String, ordered: &[&QuestionRow], offset: FixedOffset, t: &Text) {
    let _ = writeln!(
        h,
        "<section id=\"questions\">\n<h2>{}</h2>\n<p class=\"note\">{}</p>",
        escape(t.questions_heading),
        escape(t.questions_order)
    );
    if ordered.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"empty\">{}</p>\n</section>",
            escape(t.no_questions)
        );
        return;
    }
    let _ = writeln!(
        h,
        "<table>\n<thead><tr><th class=\"num\">{}</th><th>{}</th><th>{}</th><th class=\"num\">{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
        escape(t.col_rank),
        escape(t.col_question),
        escape(t.col_author),
        escape(t.col_likes),
        escape(t.col_status),
        escape(t.col_posted),
        escape(t.col_answered),
    );
    for (i, q) in ordered.iter().enumerate() {
        let mut tags = format!(
            "<span class=\"tag status\">{}</span>",
            escape(t.status(q.status))
        );
        if q.highlighted {
            let _ = write!(tags, "<span class=\"tag\">{}</span>", escape(t.highlighted));
        }
        if q.edits > 0 {
            let _ = write!(tags, "<span class=\"tag\">{}</span>", escape(t.edited));
        }
        let answered = match (q.answered, q.answered_at) {
            (true, Some(at)) => {
                let took = q
                    .time_to_answer_s
                    .map(|s| format!(" ({})", t.duration(s)))
                    .unwrap_or_default();
                format!(
                    "<span class=\"tag answered\">{}</span>{}",
                    escape(t.answered),
                    escape(&format!("{}{took}", local(at, offset, "%H:%M")))
                )
            }
            (true, None) => format!("<span class=\"tag answered\">{}</span>", escape(t.answered)),
            (false, _) => String::new(),
        };
        let author = match q.author_name.as_deref() {
            Some(name) if !name.trim().is_empty() => escape(name),
            _ => format!("<span class=\"empty\">{}</span>", escape(t.anonymous)),
        };
        let _ = writeln!(
            h,
            "<tr id=\"q-{}\"><td class=\"num\">{}</td><td class=\"text\">{}</td><td>{}</td><td class=\"num likes\">{}</td><td>{}</td><td class=\"time\">{}</td><td>{}</td></tr>",
            escape(&q.id),
            i + 1,
            escape(&q.text),
            author,
            q.likes,
            tags,
            escape(&local(q.posted_at, offset, "%Y-%m-%d %H:%M")),
            answered,
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// The questions by likes (most first), then by time posted, then by id so
/// that ties always come out in the same order.
fn ordered(questions: &[QuestionRow]) -> Vec<&QuestionRow> {
    let mut v: Vec<&QuestionRow> = questions.iter().collect();
    v.sort_by(|a, b| {
        b.likes
            .cmp(&a.likes)
            .then(a.posted_at.cmp(&b.posted_at))
            .then_with(|| a.id.cmp(&b.id))
    });
    v
}

fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{}%", (share * 100.0).round() as i64)
    } else {
        "–".to_owned()
    }
}

fn local(t: DateTime<Utc>, offset: FixedOffset, fmt: &str) -> String {
    t.with_timezone(&offset).format(fmt).to_string()
}

/// `s` safe in HTML text and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (other than whitespace) are not allowed in
            // HTML text.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
