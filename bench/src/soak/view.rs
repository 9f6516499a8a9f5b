//! What one soak client believes about its meetup: each question's like count
//! and the position it has seen, built only from the live stream's frames (a
//! snapshot replaces the view, `changes` amend it). At the end of a soak every
//! client's view is compared with the read model.

use std::collections::HashMap;

use serde::Deserialize;

/// One client's view of its meetup.
#[derive(Debug, Default, Clone)]
pub struct View {
    /// Largest position of any frame received.
    pub position: i64,
    /// Like count of each public question, by question id.
    pub likes: HashMap<String, i64>,
    /// Frames received, the first snapshot included.
    pub frames: u64,
    /// Snapshots after the first: the server found the client too slow.
    pub resnapshots: u64,
}

/// What a frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Snapshot,
    Changes,
}

#[derive(Deserialize)]
struct FrameIn {
    #[serde(rename = "type")]
    kind: String,
    position: i64,
    #[serde(default)]
    questions: Vec<QuestionIn>,
    #[serde(default)]
    changes: Vec<ChangeIn>,
}

#[derive(Deserialize)]
struct QuestionIn {
    id: String,
    likes: i64,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum ChangeIn {
    #[serde(rename = "question.upserted")]
    Upserted { question: QuestionIn },
    #[serde(rename = "question.removed")]
    Removed { id: String },
    #[serde(other)]
    Other,
}

impl View {
    /// Applies one text message of the live stream.
    pub fn apply(&mut self, text: &str) -> Result<Applied, String> {
        let frame: FrameIn = serde_json::from_str(text)
            .map_err(|e| format!("a message that is not a frame ({e}): {text:.200}"))?;
        let applied = match frame.kind.as_str() {
            "snapshot" => {
                if self.frames > 0 {
                    self.resnapshots += 1;
                }
                self.likes = frame
                    .questions
                    .into_iter()
                    .map(|q| (q.id, q.likes))
                    .collect();
                Applied::Snapshot
            }
            "changes" => {
                for change in frame.changes {
                    match change {
                        ChangeIn::Upserted { question } => {
                            self.likes.insert(question.id, question.likes);
                        }
                        ChangeIn::Removed { id } => {
                            self.likes.remove(&id);
                        }
                        ChangeIn::Other => {}
                    }
                }
                Applied::Changes
            }
            other => return Err(format!("a frame of unknown type {other:?}")),
        };
        self.frames += 1;
        self.position = self.position.max(frame.position);
        Ok(applied)
    }

    /// How many likes this view is off from `expected` (question id → count),
    /// summed over the expected questions; a question missing from the view
    /// counts its whole like count.
    pub fn likes_off(&self, expected: &HashMap<String, i64>) -> u64 {
        expected
            .iter()
            .map(|(id, want)| {
                let have = self.likes.get(id).copied().unwrap_or(0);
                have.abs_diff(*want)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPSHOT: &str = r#"{"type":"snapshot","v":1,"position":10,
        "meetup":{"id":"m"},"leaderboard":["a","b"],
        "questions":[{"id":"a","likes":3,"text":"x"},{"id":"b","likes":1,"text":"y"}]}"#;

    #[test]
    fn a_view_follows_snapshots_and_changes() {
        let mut view = View::default();
        assert_eq!(view.apply(SNAPSHOT), Ok(Applied::Snapshot));
        let changes = r#"{"type":"changes","v":1,"position":14,"changes":[
            {"type":"question.upserted","question":{"id":"a","likes":5,"text":"x"}},
            {"type":"leaderboard","items":["a","b"]},
            {"type":"question.removed","id":"b"},
            {"type":"meetup.updated","meetup":{"id":"m"}}]}"#;
        assert_eq!(view.apply(changes), Ok(Applied::Changes));
        assert_eq!(view.position, 14);
        assert_eq!(view.likes, HashMap::from([("a".to_owned(), 5)]));
        assert_eq!((view.frames, view.resnapshots), (2, 0));

        assert_eq!(view.apply(SNAPSHOT), Ok(Applied::Snapshot));
        assert_eq!(view.resnapshots, 1);
        assert_eq!(view.position, 14, "positions never go back");
        assert_eq!(view.likes.get("b"), Some(&1));
    }

    #[test]
    fn a_view_counts_how_many_likes_it_is_off() {
        let mut view = View::default();
        view.apply(SNAPSHOT).expect("snapshot");
        let expected = HashMap::from([
            ("a".to_owned(), 3),
            ("b".to_owned(), 4),
            ("c".to_owned(), 2),
        ]);
        assert_eq!(view.likes_off(&expected), 3 + 2);
    }

    #[test]
    fn a_message_that_is_no_frame_is_an_error() {
        let mut view = View::default();
        assert!(view.apply("not json").is_err());
        assert!(view.apply(r#"{"type":"hello","position":1}"#).is_err());
        assert_eq!(view.frames, 0);
    }
}
