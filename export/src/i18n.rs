//! Every string the HTML report shows, in English and Japanese: one table per
//! language, so a missing translation is a compile error.

/// The language of the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    /// The BCP 47 tag (`en`, `ja`), as in `lang=` and the page's `lang`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ja => "ja",
        }
    }

    /// The language tagged `tag` (`en`, `ja`; a region such as `ja-JP` is
    /// accepted), if it is one of the report's.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next().unwrap_or(tag);
        match primary.to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "ja" => Some(Self::Ja),
            _ => None,
        }
    }

    pub(crate) fn text(self) -> &'static Text {
        match self {
            Self::En => &EN,
            Self::Ja => &JA,
        }
    }
}

/// The report's strings in one language. `{n}` stands for a number.
pub(crate) struct Text {
    pub report: &'static str,
    pub export_heading: &'static str,
    pub meetup_id: &'static str,
    pub code: &'static str,
    pub position: &'static str,
    pub chain_head: &'static str,
    pub as_of: &'static str,
    pub no_events: &'static str,
    /// Followed by the offset, `UTC+09:00`.
    pub times_in: &'static str,
    pub figures_heading: &'static str,
    pub participants: &'static str,
    pub posters: &'static str,
    pub voters: &'static str,
    pub questions: &'static str,
    pub likes: &'static str,
    pub posted_share: &'static str,
    pub liked_share: &'static str,
    pub answered: &'static str,
    pub median_time_to_answer: &'static str,
    pub none: &'static str,
    pub activity_heading: &'static str,
    /// Bin width of the activity chart, `{n}` minutes.
    pub per_minutes: &'static str,
    pub likes_heading: &'static str,
    /// `{n}` most-liked published questions.
    pub likes_note: &'static str,
    pub time_to_answer_heading: &'static str,
    pub minutes_axis: &'static str,
    pub question_count: &'static str,
    pub questions_heading: &'static str,
    pub questions_order: &'static str,
    pub col_rank: &'static str,
    pub col_question: &'static str,
    pub col_author: &'static str,
    pub col_likes: &'static str,
    pub col_status: &'static str,
    pub col_posted: &'static str,
    pub col_answered: &'static str,
    pub anonymous: &'static str,
    pub highlighted: &'static str,
    pub edited: &'static str,
    pub no_data: &'static str,
    pub nothing_answered: &'static str,
    pub no_questions: &'static str,
    pub pending: &'static str,
    pub published: &'static str,
    pub rejected: &'static str,
    pub withdrawn: &'static str,
    pub removed: &'static str,
    pub hours_minutes: &'static str,
    pub minutes_seconds: &'static str,
    /// Whole minutes, `{m}`.
    pub minutes: &'static str,
    pub seconds: &'static str,
}

impl Text {
    /// A question status in words.
    pub(crate) fn status(&self, status: &str) -> &'static str {
        match status {
            "pending" => self.pending,
            "published" => self.published,
            "rejected" => self.rejected,
            "withdrawn" => self.withdrawn,
            _ => self.removed,
        }
    }

    /// A duration in words, at most two units (`1 h 5 min`, `4 min 12 s`).
    pub(crate) fn duration(&self, seconds: i64) -> String {
        let s = seconds.max(0);
        let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
        let pattern = if h > 0 {
            self.hours_minutes.replace("{h}", &h.to_string())
        } else if m > 0 && sec == 0 {
            self.minutes.replace("{m}", &m.to_string())
        } else if m > 0 {
            self.minutes_seconds.replace("{m}", &m.to_string())
        } else {
            self.seconds.to_owned()
        };
        pattern
            .replace("{m}", &m.to_string())
            .replace("{s}", &sec.to_string())
    }
}

const EN: Text = Text {
    report: "Q&A report",
    export_heading: "About this report",
    meetup_id: "Meetup ID",
    code: "Join code",
    position: "Event position",
    chain_head: "Hash chain head",
    as_of: "As of",
    no_events: "no events yet",
    times_in: "Times are shown in",
    figures_heading: "In figures",
    participants: "Participants",
    posters: "Asked a question",
    voters: "Liked a question",
    questions: "Questions",
    likes: "Likes",
    posted_share: "Share who asked",
    liked_share: "Share who liked",
    answered: "Answered",
    median_time_to_answer: "Median time to answer",
    none: "none",
    activity_heading: "Activity over time",
    per_minutes: "Questions and likes per {n} min",
    likes_heading: "Likes per question",
    likes_note: "The {n} most-liked published questions",
    time_to_answer_heading: "Time to answer",
    minutes_axis: "minutes",
    question_count: "questions",
    questions_heading: "Questions",
    questions_order: "By likes, then by time posted",
    col_rank: "#",
    col_question: "Question",
    col_author: "Asked by",
    col_likes: "Likes",
    col_status: "Status",
    col_posted: "Posted",
    col_answered: "Answered",
    anonymous: "anonymous",
    highlighted: "highlighted",
    edited: "edited",
    no_data: "No activity.",
    nothing_answered: "No question was answered.",
    no_questions: "No questions.",
    pending: "awaiting approval",
    published: "published",
    rejected: "rejected",
    withdrawn: "withdrawn",
    removed: "removed",
    hours_minutes: "{h} h {m} min",
    minutes_seconds: "{m} min {s} s",
    minutes: "{m} min",
    seconds: "{s} s",
};

const JA: Text = Text {
    report: "Q&A レポート",
    export_heading: "このレポートについて",
    meetup_id: "ミートアップ ID",
    code: "参加コード",
    position: "イベント位置",
    chain_head: "ハッシュチェーンの先頭",
    as_of: "時点",
    no_events: "イベントなし",
    times_in: "時刻の表示",
    figures_heading: "数字で見る",
    participants: "参加者",
    posters: "質問した人",
    voters: "いいねした人",
    questions: "質問",
    likes: "いいね",
    posted_share: "質問した人の割合",
    liked_share: "いいねした人の割合",
    answered: "回答済み",
    median_time_to_answer: "回答までの時間（中央値）",
    none: "なし",
    activity_heading: "時間ごとの活動",
    per_minutes: "{n}分ごとの質問といいね",
    likes_heading: "質問ごとのいいね",
    likes_note: "いいねの多い公開中の質問 {n} 件",
    time_to_answer_heading: "回答までの時間",
    minutes_axis: "分",
    question_count: "質問数",
    questions_heading: "質問一覧",
    questions_order: "いいねの多い順、同数は投稿順",
    col_rank: "順位",
    col_question: "質問",
    col_author: "投稿者",
    col_likes: "いいね",
    col_status: "状態",
    col_posted: "投稿",
    col_answered: "回答",
    anonymous: "匿名",
    highlighted: "ピン留め",
    edited: "編集済み",
    no_data: "活動はありません。",
    nothing_answered: "回答済みの質問はありません。",
    no_questions: "質問はありません。",
    pending: "承認待ち",
    published: "公開",
    rejected: "却下",
    withdrawn: "取り下げ",
    removed: "削除",
    hours_minutes: "{h}時間{m}分",
    minutes_seconds: "{m}分{s}秒",
    minutes: "{m}分",
    seconds: "{s}秒",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally_in_both_languages() {
        assert_eq!(Lang::En.text().duration(252), "4 min 12 s");
        assert_eq!(Lang::En.text().duration(3900), "1 h 5 min");
        assert_eq!(Lang::En.text().duration(9), "9 s");
        assert_eq!(Lang::En.text().duration(300), "5 min");
        assert_eq!(Lang::Ja.text().duration(300), "5分");
        assert_eq!(Lang::Ja.text().duration(252), "4分12秒");
        assert_eq!(Lang::Ja.text().duration(3900), "1時間5分");
    }

    #[test]
    fn language_tags_parse_with_or_without_a_region() {
        assert_eq!(Lang::parse("ja-JP"), Some(Lang::Ja));
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }
}
