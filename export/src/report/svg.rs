//! The report's charts as inline SVG: no script, no external resource, and
//! colours set by classes so the print stylesheet can adjust them.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};
use qicoo_projections::audit::tables::{ActivityRow, QuestionRow};

use super::escape;
use crate::i18n::Text;

const WIDTH: f64 = 720.0;

/// Bin widths (minutes) the activity chart may use: the smallest that keeps
/// the chart to [`MAX_BINS`] bars per series.
const BIN_MINUTES: [i64; 12] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
const MAX_BINS: i64 = 120;

/// Questions and likes per time bin, as grouped columns, the x axis in local
/// time. `None` when there was no activity.
pub(super) fn activity(
    rows: &[ActivityRow],
    offset: FixedOffset,
    t: &Text,
) -> Option<(String, i64)> {
    let first = rows.iter().map(|r| r.minute).min()?;
    let last = rows.iter().map(|r| r.minute).max()?;
    let span = (last - first).num_minutes() + 1;
    let bin = BIN_MINUTES
        .into_iter()
        .find(|b| (span + b - 1) / b <= MAX_BINS)
        .unwrap_or_else(|| (span + MAX_BINS - 1) / MAX_BINS);
    let bins = ((span + bin - 1) / bin).max(1);
    let mut questions = vec![0i64; bins as usize];
    let mut likes = vec![0i64; bins as usize];
    for r in rows {
        let i = ((r.minute - first).num_minutes() / bin).clamp(0, bins - 1) as usize;
        questions[i] += r.questions;
        likes[i] += r.likes;
    }
    let max = questions.iter().chain(&likes).copied().max().unwrap_or(0);
    let top = nice_ceiling(max);

    let (left, right, top_pad, bottom) = (44.0, 12.0, 28.0, 34.0);
    let height = 260.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top_pad - bottom;
    let slot = plot_w / bins as f64;
    let mut svg = open_svg(height, &t.per_minutes.replace("{n}", &bin.to_string()));
    y_grid(&mut svg, top, left, WIDTH - right, top_pad, plot_h);

    let bar_w = (slot * 0.4).clamp(0.5, 28.0);
    let inset = (slot - 2.0 * bar_w) / 2.0;
    let fmt = if span > 24 * 60 {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    };
    for i in 0..bins as usize {
        let x = left + slot * i as f64;
        let start = first + chrono::Duration::minutes(bin * i as i64);
        let label = local(start, offset, fmt);
        for (j, (value, class, name)) in
            [(questions[i], "s1", t.questions), (likes[i], "s2", t.likes)]
                .into_iter()
                .enumerate()
        {
            // Likes withdrawn can outnumber likes cast in a bin: no bar then.
            if value <= 0 {
                continue;
            }
            let h = plot_h * value as f64 / top as f64;
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} · {}: {}</title></rect>"#,
                x + inset + bar_w * j as f64,
                top_pad + plot_h - h,
                bar_w,
                h,
                escape(&label),
                escape(name),
                value
            );
        }
    }
    // About six time labels along the axis.
    let step = ((bins as f64 / 6.0).ceil() as usize).max(1);
    for i in (0..bins as usize).step_by(step) {
        let start = first + chrono::Duration::minutes(bin * i as i64);
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{:.1}">{}</text>"#,
            left + slot * i as f64,
            height - bottom + 16.0,
            escape(&local(start, offset, fmt))
        );
    }
    legend(
        &mut svg,
        left,
        16.0,
        &[("s1", t.questions), ("s2", t.likes)],
    );
    svg.push_str("</svg>");
    Some((svg, bin))
}

/// Likes of the given questions as horizontal bars, labelled with their text.
pub(super) fn likes(questions: &[&QuestionRow], t: &Text) -> String {
    let (label_w, right, row_h, top_pad) = (300.0, 48.0, 24.0, 8.0);
    let height = top_pad * 2.0 + row_h * questions.len() as f64;
    let max = questions.iter().map(|q| q.likes).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - label_w - right;
    let mut svg = open_svg(height, t.likes_heading);
    for (i, q) in questions.iter().enumerate() {
        let y = top_pad + row_h * i as f64;
        let w = plot_w * q.likes.max(0) as f64 / max as f64;
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}">{}</text><rect class="s2" x="{label_w:.1}" y="{:.1}" width="{w:.1}" height="{:.1}"><title>{}</title></rect><text class="value" x="{:.1}" y="{:.1}">{}</text>"#,
            label_w - 8.0,
            y + row_h * 0.65,
            escape(&truncate(&q.text, 270.0)),
            y + row_h * 0.15,
            row_h * 0.7,
            escape(&q.text),
            label_w + w + 6.0,
            y + row_h * 0.65,
            q.likes
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Upper bounds (minutes, exclusive) of the time-to-answer buckets; the last
/// bucket is open.
const ANSWER_BUCKETS: [(i64, &str); 6] = [
    (1, "<1"),
    (5, "1–5"),
    (15, "5–15"),
    (30, "15–30"),
    (60, "30–60"),
    (i64::MAX, "60+"),
];

/// How many answered questions took how long, as a histogram in minutes.
/// `None` when nothing was answered.
pub(super) fn time_to_answer(questions: &[QuestionRow], t: &Text) -> Option<String> {
    let mut counts = [0i64; ANSWER_BUCKETS.len()];
    let mut any = false;
    for s in questions.iter().filter_map(|q| q.time_to_answer_s) {
        let minutes = s.max(0) / 60;
        let i = ANSWER_BUCKETS
            .iter()
            .position(|(upper, _)| minutes < *upper)
            .unwrap_or(ANSWER_BUCKETS.len() - 1);
        counts[i] += 1;
        any = true;
    }
    if !any {
        return None;
    }
    let top = nice_ceiling(counts.iter().copied().max().unwrap_or(1));
    let (left, right, top_pad, bottom) = (44.0, 12.0, 16.0, 44.0);
    let height = 240.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top_pad - bottom;
    let slot = plot_w / ANSWER_BUCKETS.len() as f64;
    let mut svg = open_svg(height, t.time_to_answer_heading);
    y_grid(&mut svg, top, left, WIDTH - right, top_pad, plot_h);
    for (i, ((_, label), count)) in ANSWER_BUCKETS.iter().zip(counts).enumerate() {
        let x = left + slot * i as f64;
        let h = plot_h * count as f64 / top as f64;
        let _ = write!(
            svg,
            r#"<rect class="s1" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{label} {}: {count} {}</title></rect><text class="tick" x="{:.1}" y="{:.1}">{label}</text>"#,
            x + slot * 0.15,
            top_pad + plot_h - h,
            slot * 0.7,
            escape(t.minutes_axis),
            escape(t.question_count),
            x + slot * 0.5,
            height - bottom + 16.0,
        );
        if count > 0 {
            let _ = write!(
                svg,
                r#"<text class="tick" x="{:.1}" y="{:.1}">{count}</text>"#,
                x + slot * 0.5,
                top_pad + plot_h - h - 4.0
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text class="tick" x="{:.1}" y="{:.1}">{}</text></svg>"#,
        left + plot_w / 2.0,
        height - 6.0,
        escape(t.minutes_axis)
    );
    Some(svg)
}

fn open_svg(height: f64, label: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}"><title>{label}</title>"#,
        label = escape(label)
    )
}

fn y_grid(svg: &mut String, top: i64, left: f64, right: f64, top_pad: f64, plot_h: f64) {
    for k in 0..=4 {
        let value = top * k / 4;
        let y = top_pad + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{left:.1}" x2="{right:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="yaxis" x="{:.1}" y="{:.1}">{value}</text>"#,
            left - 6.0,
            y + 4.0
        );
    }
}

fn legend(svg: &mut String, x: f64, y: f64, series: &[(&str, &str)]) {
    let mut x = x;
    for (class, name) in series {
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{x:.1}" y="{:.1}" width="12" height="12"/><text class="legend" x="{:.1}" y="{y:.1}">{}</text>"#,
            y - 10.0,
            x + 16.0,
            escape(name)
        );
        x += 16.0 + 14.0 * name.chars().count() as f64 + 24.0;
    }
}

/// The smallest of 4, 8, 12, 20 × 10ⁿ at or above `max`: the four grid
/// lines then fall on whole, round numbers.
fn nice_ceiling(max: i64) -> i64 {
    let mut scale = 1i64;
    while scale < i64::MAX / 100 {
        for step in [4, 8, 12, 20] {
            if step * scale >= max {
                return step * scale;
            }
        }
        scale *= 10;
    }
    max
}

/// `text` cut to about `px` pixels at the chart's font size, with an
/// ellipsis when cut.
fn truncate(text: &str, px: f64) -> String {
    let mut width = 0.0;
    let mut out = String::new();
    for c in text.chars() {
        let w = if c.is_ascii() { 7.0 } else { 12.5 };
        if width + w > px - 8.0 {
            out.push('…');
            return out;
        }
        width += w;
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

fn local(t: DateTime<Utc>, offset: FixedOffset, fmt: &str) -> String {
    t.with_timezone(&offset).format(fmt).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_tops_are_round_and_divide_into_four() {
        assert_eq!(nice_ceiling(0), 4);
        assert_eq!(nice_ceiling(3), 4);
        assert_eq!(nice_ceiling(7), 8);
        assert_eq!(nice_ceiling(9), 12);
        assert_eq!(nice_ceiling(17), 20);
        assert_eq!(nice_ceiling(130), 200);
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        let cut = truncate(&"x".repeat(100), 270.0);
        assert!(cut.ends_with('…'));
        assert!(cut.chars().count() < 40);
        assert_eq!(truncate("short", 270.0), "short");
    }
}
