//! The one ranking rule of Qicoo: which questions are ranked (published and
//! not answered), and in what order (most likes first; among questions with
//! as many likes, the one posted earlier, by global position).
//!
//! Every place that ranks uses it: the leaderboard projection's in-memory
//! store, the live stream's rooms, and (through [`Rank::redis_member`] and
//! [`Rank::redis_score`]) the Redis sorted sets, so that the speaker's screen
//! and `GET /leaderboard` agree on ties. The SQL `top` sort orders by the same
//! two columns.

use std::cmp::Ordering;

use qicoo_domain::QuestionStatus;

/// What a question is ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rank {
    /// Its like count.
    pub likes: i64,
    /// Global position of the event that posted it.
    pub posted_position: i64,
}

impl Rank {
    /// The Redis sorted-set score: lower ranks first, so minus the likes.
    pub fn redis_score(&self) -> i64 {
        -self.likes
    }

    /// The zero-padded posted position a Redis sorted-set member starts with:
    /// members with equal scores sort by bytes, so the earlier posted first.
    pub fn redis_member_prefix(&self) -> String {
        format!("{:020}", self.posted_position)
    }
}

/// Whether a question in this state is on the leaderboard.
pub fn is_ranked(status: QuestionStatus, answered: bool) -> bool {
    status == QuestionStatus::Published && !answered
}

/// The order of two ranked questions: `Less` when `a` ranks before `b`.
pub fn rank_order(a: Rank, b: Rank) -> Ordering {
    b.likes
        .cmp(&a.likes)
        .then(a.posted_position.cmp(&b.posted_position))
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(*self, *other)
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(likes: i64, posted_position: i64) -> Rank {
        Rank {
            likes,
            posted_position,
        }
    }

    #[test]
    fn more_likes_rank_first_and_the_earlier_posted_wins_a_tie() {
        let mut ranks = vec![rank(1, 1), rank(3, 9), rank(3, 4), rank(0, 2)];
        ranks.sort();
        assert_eq!(ranks, vec![rank(3, 4), rank(3, 9), rank(1, 1), rank(0, 2)]);
    }

    #[test]
    fn the_redis_encoding_sorts_as_the_rule_does() {
        let mut ranks = vec![rank(2, 100), rank(2, 99), rank(5, 7), rank(0, 1)];
        let mut by_redis = ranks.clone();
        by_redis.sort_by_key(|r| (r.redis_score(), r.redis_member_prefix()));
        ranks.sort();
        assert_eq!(ranks, by_redis);
    }

    #[test]
    fn only_published_unanswered_questions_are_ranked() {
        assert!(is_ranked(QuestionStatus::Published, false));
        assert!(!is_ranked(QuestionStatus::Published, true));
        assert!(!is_ranked(QuestionStatus::Pending, false));
        assert!(!is_ranked(QuestionStatus::Withdrawn, false));
    }
}
