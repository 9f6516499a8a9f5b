use qicoo_export::Lang;

use crate::fixture::{self, meetup, SCRIPT};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The text of every element matching `selector`.
fn texts(dom: &tl::VDom<'_>, selector: &str) -> Vec<String> {
    let parser = dom.parser();
    dom.query_selector(selector)
        .map(|nodes| {
            nodes
                .filter_map(|h| h.get(parser))
                .map(|n| n.inner_text(parser).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn count(dom: &tl::VDom<'_>, selector: &str) -> usize {
    dom.query_selector(selector).map_or(0, Iterator::count)
}

/// The text of every element matching `selector` inside the first element
/// matching `container` (tl's descendant combinator finds nothing here).
fn texts_in(dom: &tl::VDom<'_>, container: &str, selector: &str) -> Vec<String> {
    let parser = dom.parser();
    let Some(outer) = dom
        .query_selector(container)
        .and_then(|mut nodes| nodes.next())
        .and_then(|h| h.get(parser))
        .and_then(|n| n.as_tag())
    else {
        return Vec::new();
    };
    outer
        .query_selector(parser, selector)
        .map(|nodes| {
            nodes
                .filter_map(|h| h.get(parser))
                .map(|n| n.inner_text(parser).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn attribute(dom: &tl::VDom<'_>, selector: &str, name: &str) -> Option<String> {
    let parser = dom.parser();
    let node = dom.query_selector(selector)?.next()?.get(parser)?;
    let value = node.as_tag()?.attributes().get(name)??;
    Some(value.as_utf8_str().into_owned())
}

#[test]
fn the_report_shows_the_meetup_what_it_reflects_and_its_figures() -> TestResult {
    let html = fixture::report(&meetup(), Lang::En, 0);
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    assert_eq!(attribute(&dom, "html", "lang").as_deref(), Some("en"));
    assert_eq!(texts(&dom, "h1"), ["Rust Meetup Tokyo #42"]);
    assert_eq!(
        texts(&dom, "h2"),
        [
            "About this report",
            "In figures",
            "Activity over time",
            "Likes per question",
            "Time to answer",
            "Questions"
        ]
    );
    let meta = texts_in(&dom, "#export", "dd");
    assert!(meta.contains(&"1234".to_owned()), "position: {meta:?}");
    assert!(meta.contains(&"ab".repeat(32)), "chain head: {meta:?}");
    assert!(meta.contains(&"RUST42".to_owned()));
    assert!(meta.contains(&"2026-12-07 21:00:00".to_owned()));
    let figures = texts_in(&dom, "#summary", "dd");
    assert_eq!(
        figures,
        ["3", "2", "2", "4", "12", "67%", "67%", "1", "5 min"]
    );
    Ok(())
}

#[test]
fn a_script_in_a_question_comes_out_as_inert_text() -> TestResult {
    let html = fixture::report(&meetup(), Lang::En, 0);
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "no script element anywhere"
    );
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    assert_eq!(count(&dom, "script"), 0);
    let cells = texts(&dom, "td.text");
    assert!(
        cells
            .iter()
            .any(|c| c.starts_with("&lt;script&gt;") && c.ends_with("日本語でも質問")),
        "{cells:?} should hold the question as escaped text: {SCRIPT}"
    );
    Ok(())
}

#[test]
fn the_page_loads_nothing_from_anywhere() -> TestResult {
    let html = fixture::report(&meetup(), Lang::En, 0);
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    for tag in ["script", "link", "img", "iframe", "object", "embed"] {
        assert_eq!(count(&dom, tag), 0, "a <{tag}> element");
    }
    assert!(!html.contains("src="));
    assert!(!html.contains("href="));
    assert!(!html.contains("url("));
    assert!(!html.contains("@import"));
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("@media print"));
    Ok(())
}

#[test]
fn questions_are_listed_by_likes_then_by_time_posted() -> TestResult {
    let html = fixture::report(&meetup(), Lang::En, 0);
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    let parser = dom.parser();
    let ids: Vec<String> = dom
        .query_selector("tr")
        .ok_or("no rows")?
        .filter_map(|h| {
            h.get(parser)?
                .as_tag()?
                .attributes()
                .id()
                .map(|id| id.as_utf8_str().into_owned())
        })
        .collect();
    // q1 and q3 both have 5 likes; q1 was posted first.
    assert_eq!(ids, ["q-q1", "q-q3", "q-q2", "q-q4"]);
    assert_eq!(texts(&dom, "td.likes"), ["5", "5", "2", "0"]);
    Ok(())
}

#[test]
fn the_three_charts_are_inline_svg_with_one_bar_per_published_question() -> TestResult {
    let html = fixture::report(&meetup(), Lang::En, 0);
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    assert_eq!(count(&dom, "svg"), 3);
    // Published questions only: q4 is still pending.
    assert_eq!(texts_in(&dom, "#likes", "rect").len(), 3);
    let labels = texts_in(&dom, "#likes", ".label");
    assert_eq!(labels.len(), 3);
    assert!(
        labels.iter().all(|l| !l.contains('<')),
        "labels are escaped: {labels:?}"
    );
    // One question answered, after five minutes.
    assert_eq!(texts_in(&dom, "#time-to-answer", "rect").len(), 6);
    let activity = texts_in(&dom, "#activity", ".axis");
    assert_eq!(activity.first().map(String::as_str), Some("20:15"));
    Ok(())
}

#[test]
fn times_are_shown_in_the_given_offset() -> TestResult {
    let html = fixture::report(&meetup(), Lang::Ja, 9);
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    let meta = texts_in(&dom, "#export", "dd");
    assert!(meta.contains(&"UTC+09:00".to_owned()), "{meta:?}");
    assert!(
        meta.contains(&"2026-12-08 06:00:00".to_owned()),
        "as_of in JST: {meta:?}"
    );
    let q1 = texts_in(&dom, "#q-q1", "td");
    assert!(q1.contains(&"2026-12-08 05:15".to_owned()), "{q1:?}");
    let axis = texts_in(&dom, "#activity", ".axis");
    assert_eq!(axis.first().map(String::as_str), Some("05:15"));
    Ok(())
}

#[test]
fn the_japanese_report_is_in_japanese_throughout() -> TestResult {
    let html = fixture::report(&meetup(), Lang::Ja, 9);
    let dom = tl::parse(&html, tl::ParserOptions::default())?;
    assert_eq!(attribute(&dom, "html", "lang").as_deref(), Some("ja"));
    assert_eq!(
        texts(&dom, "h2"),
        [
            "このレポートについて",
            "数字で見る",
            "時間ごとの活動",
            "質問ごとのいいね",
            "回答までの時間",
            "質問一覧"
        ]
    );
    assert_eq!(
        texts_in(&dom, "#summary", "dd").last().map(String::as_str),
        Some("5分")
    );
    assert!(texts(&dom, "th").contains(&"投稿者".to_owned()));
    assert!(texts(&dom, "span.status").contains(&"承認待ち".to_owned()));
    assert!(texts(&dom, "td").contains(&"匿名".to_owned()));
    // No English string of the report's own is left (user text aside).
    let own_text: String = [
        "h2", "th", "dt", "p", "span", "title", ".legend", ".tick", ".label",
    ]
    .iter()
    .flat_map(|s| texts(&dom, s))
    .collect::<Vec<_>>()
    .join("\n");
    for english in [
        "Likes",
        "Questions",
        "Participants",
        "anonymous",
        "published",
        "pending",
        "awaiting",
        "answered",
        "Answered",
        "minutes",
        "report",
        "Posted",
        "Status",
        "highlighted",
        "edited",
        "Share",
        "Median",
        "per",
        "As of",
        "Join code",
    ] {
        assert!(
            !own_text.contains(english),
            "{english:?} in the Japanese report"
        );
    }
    Ok(())
}
