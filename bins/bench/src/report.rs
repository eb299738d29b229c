//! The numbers of a run, as a table or as JSON.

use std::fmt;

use serde::Serialize;

use crate::{Args, Tally};

/// Percentiles reported, with their names.
const PERCENTILES: [(&str, f64); 5] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)];

/// The outcome of a run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) args: Args,
    pub(crate) requests: u64,
    pub(crate) throughput: f64,
    pub(crate) gets: u64,
    pub(crate) sets: u64,
    pub(crate) hit_rate: f64,
    pub(crate) errors: u64,
    pub(crate) wrong_values: u64,
    /// Microseconds, by percentile name.
    pub(crate) latency_us: Vec<(String, f64)>,
}

impl Report {
    pub(crate) fn new(args: &Args, tally: &Tally) -> Self {
        let lookups = tally.hits + tally.misses;
        let latency_us = PERCENTILES
            .iter()
            .map(|(name, quantile)| {
                let micros = match tally.latency.quantile_bucket(*quantile) {
                    Ok(Some(bucket)) => bucket.end() as f64 / 1000.0,
                    _ => 0.0,
                };
                (name.to_string(), micros)
            })
            .collect();
        Self {
            args: args.clone(),
            requests: tally.requests,
            throughput: tally.requests as f64 / args.duration,
            gets: tally.gets,
            sets: tally.sets,
            hit_rate: if lookups == 0 { 0.0 } else { tally.hits as f64 / lookups as f64 },
            errors: tally.errors,
            wrong_values: tally.wrong_values,
            latency_us,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target      {} ({:?})", self.args.target, self.args.protocol)?;
        writeln!(
            f,
            "load        {} connections, pipeline {}, {} threads, rate {}",
            self.args.connections,
            self.args.pipeline,
            self.args.threads,
            if self.args.rate == 0 { "closed loop".to_string() } else { format!("{}/s", self.args.rate) }
        )?;
        writeln!(
            f,
            "requests    {} in {:.1} s: {:.0}/s",
            self.requests, self.args.duration, self.throughput
        )?;
        writeln!(f, "gets/sets   {} / {}, hit rate {:.3}", self.gets, self.sets, self.hit_rate)?;
        writeln!(f, "errors      {}, wrong values {}", self.errors, self.wrong_values)?;
        write!(f, "latency us ")?;
        for (name, micros) in &self.latency_us {
            write!(f, " {name} {micros:.1}")?;
        }
        writeln!(f)
    }
}
