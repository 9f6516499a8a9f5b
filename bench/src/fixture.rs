//! What every scenario starts from: one meetup, its questions, and participant
//! tokens issued up front so that issuing them is never part of a measurement.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

use crate::api::{Api, Meetup};
use crate::Result;

/// A meetup with questions and participants ready to vote.
#[derive(Debug)]
pub struct Fixture {
    pub meetup: Meetup,
    pub questions: Vec<String>,
    pub tokens: Vec<String>,
}

impl Fixture {
    /// Creates a meetup with `questions` questions and issues `participants`
    /// tokens.
    pub async fn create(api: &Api, questions: usize, participants: usize) -> Result<Self> {
        let meetup = api.create_meetup("Benchmark night").await?;
        let tokens = api.participants(participants.max(1), 32).await?;
        let mut ids = Vec::with_capacity(questions);
        for i in 0..questions {
            let author = &tokens[i % tokens.len()];
            let text = format!("Question {i}: how does Qicoo hold up under load?");
            ids.push(api.post_question(&meetup.id, author, &text).await?);
        }
        Ok(Self {
            meetup,
            questions: ids,
            tokens,
        })
    }
}

/// One vote to send: which question, by whom, like or unlike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedVote {
    pub question: usize,
    pub participant: usize,
    pub like: bool,
}

/// Chooses votes so that every one of them appends an event: a skewed choice of
/// question (a few hot ones, a long tail), then the next participant who has not
/// voted on it yet. Once every participant has liked a question, the next round
/// on it unlikes, then likes again, so a long run never turns into no-ops.
#[derive(Debug)]
pub struct VotePlan {
    choice: WeightedIndex<f64>,
    next_voter: Vec<AtomicUsize>,
    participants: usize,
}

impl VotePlan {
    /// Question `i` gets a share proportional to `1 / (i + 1)^skew`.
    pub fn new(questions: usize, participants: usize, skew: f64) -> Result<Self> {
        let weights: Vec<f64> = (0..questions.max(1))
            .map(|i| 1.0 / ((i + 1) as f64).powf(skew))
            .collect();
        Ok(Self {
            choice: WeightedIndex::new(weights)?,
            next_voter: (0..questions.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            participants: participants.max(1),
        })
    }

    /// The next vote to send.
    pub fn next(&self, rng: &mut impl Rng) -> PlannedVote {
        let question = self.choice.sample(rng);
        let n = self.next_voter[question].fetch_add(1, Ordering::Relaxed);
        PlannedVote {
            question,
            participant: n % self.participants,
            like: (n / self.participants).is_multiple_of(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_first_questions_are_hot_and_every_vote_changes_something() {
        let plan = VotePlan::new(20, 3, 1.1).expect("plan");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let votes: Vec<PlannedVote> = (0..10_000).map(|_| plan.next(&mut rng)).collect();
        let on_first = votes.iter().filter(|v| v.question == 0).count();
        let on_last = votes.iter().filter(|v| v.question == 19).count();
        assert!(on_first > 5 * on_last, "{on_first} vs {on_last}");
        let first: Vec<_> = votes.iter().filter(|v| v.question == 0).take(7).collect();
        let shape: Vec<_> = first.iter().map(|v| (v.participant, v.like)).collect();
        assert_eq!(
            shape,
            [
                (0, true),
                (1, true),
                (2, true),
                (0, false),
                (1, false),
                (2, false),
                (0, true)
            ]
        );
    }
}
