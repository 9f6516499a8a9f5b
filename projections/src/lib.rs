//! Qicoo read side (in progress).
