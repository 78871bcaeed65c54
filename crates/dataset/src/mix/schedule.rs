//! The mixture's schedule: which source each draw takes from, and what
//! each source has left.

use crate::error::{Error, Result};
use crate::plan::SplitMix64;

/// Salt of the tie order's generator.
const TIE_ORDER_SALT: u64 = 0x006d_6978_7475_7265; // "mixture"

/// When a mixture ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// When the schedule asks a finished source for a sequence.
    FirstExhausted,
    /// When every source has finished once (finished ones restart).
    AllExhausted,
}

impl Stop {
    /// Parse `first_exhausted` / `all_exhausted`.
    pub fn parse(text: &str) -> Option<Stop> {
        match text {
            "first_exhausted" => Some(Stop::FirstExhausted),
            "all_exhausted" => Some(Stop::AllExhausted),
            _ => None,
        }
    }
}

/// Which source each draw takes from: at draw `t`, among the sources at
/// least `delta` behind their share `t × w`, the one whose next sequence
/// is due first (`(count + 1 - delta) / w`), ties in a per-epoch order.
#[derive(Debug, Clone)]
pub struct Schedule {
    weights: Vec<f64>,
    counts: Vec<u64>,
    draws: u64,
    delta: f64,
    /// Tie order: lower first.
    tie_rank: Vec<usize>,
}

/// Slack of the float comparisons (shares are sums of a few products).
const EPSILON: f64 = 1e-9;

impl Schedule {
    /// A schedule over `weights` (positive; normalized here), its ties
    /// ordered by `(seed, epoch)`.
    pub fn new(weights: &[f64], seed: u64, epoch: u64) -> Result<Schedule> {
        if weights.is_empty() {
            return Err(Error::invalid(
                "weights",
                "a mixture needs at least one source",
            ));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(Error::invalid(
                "weights",
                format!("every weight must be a positive number, got {w}"),
            ));
        }
        let total: f64 = weights.iter().sum();
        let n = weights.len();
        let mut order: Vec<usize> = (0..n).collect();
        SplitMix64::new(&[TIE_ORDER_SALT, seed, epoch]).shuffle(&mut order);
        let mut tie_rank = vec![0; n];
        for (rank, &i) in order.iter().enumerate() {
            tie_rank[i] = rank;
        }
        Ok(Schedule {
            weights: weights.iter().map(|w| w / total).collect(),
            counts: vec![0; n],
            draws: 0,
            delta: if n > 1 { 1.0 / (2 * n - 2) as f64 } else { 0.0 },
            tie_rank,
        })
    }

    /// The source of the next draw (not taken yet).
    pub fn peek(&self) -> usize {
        let t = (self.draws + 1) as f64;
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, &w) in self.weights.iter().enumerate() {
            let c = self.counts[i] as f64;
            if t * w - c < self.delta - EPSILON {
                continue;
            }
            let due = (c + 1.0 - self.delta) / w;
            let better = match best {
                None => true,
                Some((d, rank, _)) => {
                    due < d - EPSILON || ((due - d).abs() <= EPSILON && self.tie_rank[i] < rank)
                }
            };
            if better {
                best = Some((due, self.tie_rank[i], i));
            }
        }
        // Some source is always eligible (the lags sum to 1); the fallback
        // only guards against rounding.
        best.map_or_else(|| self.most_behind(t), |(_, _, i)| i)
    }

    fn most_behind(&self, t: f64) -> usize {
        let lag = |i: usize| t * self.weights[i] - self.counts[i] as f64;
        (0..self.weights.len())
            .max_by(|&a, &b| lag(a).total_cmp(&lag(b)).then(b.cmp(&a)))
            .unwrap_or(0)
    }

    /// Take a draw from `source`.
    pub fn take(&mut self, source: usize) {
        self.counts[source] += 1;
        self.draws += 1;
    }

    /// Draws per source so far.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The normalized weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

/// One draw of a mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// The source drawn from.
    pub source: usize,
    /// Whether the source was restarted with its next epoch first.
    pub restarted: bool,
}

/// A mixture's position: the schedule and what each source has left.
#[derive(Debug, Clone)]
pub struct MixCursor {
    schedule: Schedule,
    /// Sequences left in each source's current epoch.
    left: Vec<u64>,
    /// Sequences of each source's current epoch when it started.
    epoch_total: Vec<u64>,
    /// Sequences of a fresh epoch of each source.
    full: Vec<u64>,
    restarts: Vec<u64>,
    finished_once: Vec<bool>,
    stop: Stop,
    stopped: bool,
}

impl MixCursor {
    /// A cursor at the start of sources with `left` sequences each (a fresh
    /// epoch has `full`).
    pub fn new(schedule: Schedule, left: Vec<u64>, full: Vec<u64>, stop: Stop) -> MixCursor {
        let n = left.len();
        MixCursor {
            schedule,
            epoch_total: left.clone(),
            left,
            full,
            restarts: vec![0; n],
            finished_once: vec![false; n],
            stop,
            stopped: false,
        }
    }

    /// The next draw, or None when the mixture stops.
    pub fn draw(&mut self) -> Option<Draw> {
        if self.stopped {
            return None;
        }
        let i = self.schedule.peek();
        let mut restarted = false;
        if self.left[i] == 0 {
            self.finished_once[i] = true;
            let all = self.finished_once.iter().all(|&f| f);
            if self.stop == Stop::FirstExhausted || all || self.full[i] == 0 {
                self.stopped = true;
                return None;
            }
            self.restarts[i] += 1;
            self.left[i] = self.full[i];
            self.epoch_total[i] = self.full[i];
            restarted = true;
        }
        self.left[i] -= 1;
        self.schedule.take(i);
        Some(Draw {
            source: i,
            restarted,
        })
    }

    /// Make `n` draws; the draws made when the mixture stopped first.
    pub fn advance(&mut self, n: u64) -> u64 {
        for done in 0..n {
            if self.draw().is_none() {
                return done;
            }
        }
        n
    }

    /// Draws left before the mixture stops.
    pub fn remaining(&self) -> u64 {
        let mut probe = self.clone();
        probe.advance(u64::MAX)
    }

    /// Times each source was restarted.
    pub fn restarts(&self) -> &[u64] {
        &self.restarts
    }

    /// Sequences each source's current epoch has given.
    pub fn taken_in_epoch(&self, source: usize) -> u64 {
        self.epoch_total[source] - self.left[source]
    }

    /// Draws per source so far.
    pub fn counts(&self) -> &[u64] {
        self.schedule.counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_prefix_is_within_one_of_its_share(
            weights in proptest::collection::vec(0.01f64..10.0, 1..7),
            seed: u64, steps in 1usize..3000,
        ) {
            let mut s = Schedule::new(&weights, seed, 0).unwrap();
            let w = s.weights().to_vec();
            for t in 1..=steps {
                let i = s.peek();
                s.take(i);
                for (j, &c) in s.counts().iter().enumerate() {
                    let share = t as f64 * w[j];
                    prop_assert!((c as f64 - share).abs() < 1.0, "t={} source {} count {} share {}", t, j, c, share);
                }
            }
        }

        #[test]
        fn cursors_replay_exactly(
            left in proptest::collection::vec(0u64..200, 1..5), seed: u64,
            all: bool, cut in 0u64..600,
        ) {
            let weights: Vec<f64> = (0..left.len()).map(|i| (i + 1) as f64).collect();
            let stop = if all { Stop::AllExhausted } else { Stop::FirstExhausted };
            let make = || MixCursor::new(Schedule::new(&weights, seed, 3).unwrap(), left.clone(), left.clone(), stop);
            let mut whole = make();
            let mut seq = Vec::new();
            while let Some(d) = whole.draw() { seq.push(d.source); }
            let mut first = make();
            let done = first.advance(cut);
            prop_assert_eq!(done, cut.min(seq.len() as u64));
            let mut rest = Vec::new();
            while let Some(d) = first.draw() { rest.push(d.source); }
            prop_assert_eq!(&seq[done as usize..], &rest[..]);
            prop_assert_eq!(make().remaining(), seq.len() as u64);
            if !all {
                // Nothing drawn past a source's end.
                for (i, &n) in left.iter().enumerate() {
                    prop_assert!(seq.iter().filter(|&&s| s == i).count() as u64 <= n);
                }
            } else if left.iter().all(|&n| n > 0) {
                // Every source finished at least once.
                for (i, &n) in left.iter().enumerate() {
                    prop_assert!(seq.iter().filter(|&&s| s == i).count() as u64 >= n);
                }
            }
        }
    }

    #[test]
    fn ties_depend_on_seed_and_epoch() {
        let first = |seed, epoch| {
            let s = Schedule::new(&[1.0; 6], seed, epoch).unwrap();
            s.peek()
        };
        let firsts: std::collections::HashSet<usize> = (0..40).map(|e| first(1, e)).collect();
        assert!(firsts.len() > 1);
        assert_eq!(first(3, 4), first(3, 4));
    }

    #[test]
    fn bad_weights_are_refused() {
        assert!(Schedule::new(&[], 0, 0).is_err());
        assert!(Schedule::new(&[1.0, 0.0], 0, 0).is_err());
        assert!(Schedule::new(&[1.0, f64::NAN], 0, 0).is_err());
        assert!(Schedule::new(&[-1.0], 0, 0).is_err());
    }
}
