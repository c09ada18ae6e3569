//! Adaptive selection: pick the coding and level that best meet a goal, from
//! figures measured on the payloads actually being sent.
//!
//! # Policy
//!
//! A [`Selector`] keeps a small sample of recent payloads (every
//! [`Policy::sample_every`]-th payload, cut to [`Policy::sample_len`] bytes,
//! the last [`Policy::samples`] of them) and the typical payload size (a
//! moving average over every payload). On the first payload, then every
//! [`Policy::remeasure_every`] payloads or [`Policy::remeasure_after`],
//! whichever comes first, it measures every candidate on the sample — ratio,
//! compression and decompression speed — and applies the [`Goal`]:
//!
//! - [`Goal::Fastest`]: the highest compression speed among candidates that
//!   compress (`none` only if it is the sole candidate);
//! - [`Goal::Smallest`]: the highest ratio;
//! - [`Goal::Latency`]: the highest ratio among candidates that compress a
//!   typical payload within the budget; if none does, the fastest;
//! - [`Goal::Bandwidth`]: the least estimated time to compress a typical
//!   payload, send it over a link of that many bytes per second, and
//!   decompress it (the peer's decompression estimated by ours).
//!
//! Ties go to the faster candidate. Measuring costs a few milliseconds per
//! round with the default candidates and policy (256 KiB of sample through 9
//! encoders), about 0.01% of one core at one round a minute. The measurement
//! source is a [`Probe`]: [`WallClock`] times real work; tests inject figures.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::{Compression, Encoder, Error, Level};

/// What a [`Selector`] optimises.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Goal {
    /// The least CPU per byte: the fastest compressing candidate.
    Fastest,
    /// The fewest bytes on the wire, whatever the CPU cost.
    Smallest,
    /// The fewest bytes while compressing a typical payload takes at most this long.
    Latency(Duration),
    /// The least time to compress, send and decompress a typical payload over
    /// a link of this many bytes per second.
    Bandwidth(u64),
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goal::Fastest => f.write_str("fastest"),
            Goal::Smallest => f.write_str("smallest"),
            Goal::Latency(budget) => write!(f, "latency budget {budget:?}"),
            Goal::Bandwidth(bytes) => write!(f, "bandwidth {:.1} MB/s", *bytes as f64 / 1e6),
        }
    }
}

/// One encoder's measured figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// The encoder measured.
    pub encoder: Encoder,
    /// Uncompressed bytes per compressed byte (1.0 for `none`).
    pub ratio: f64,
    /// Compression speed, in MB/s of uncompressed bytes (infinite for `none`).
    pub compress_mb_s: f64,
    /// Decompression speed, in MB/s of uncompressed bytes (infinite for `none`).
    pub decompress_mb_s: f64,
}

impl Figures {
    /// The figures of sending uncompressed: ratio 1, no time spent.
    pub const fn identity() -> Self {
        Figures {
            encoder: Encoder::new(Compression::None),
            ratio: 1.0,
            compress_mb_s: f64::INFINITY,
            decompress_mb_s: f64::INFINITY,
        }
    }

    /// Estimated time to compress `len` bytes.
    pub fn compress_time(&self, len: usize) -> Duration {
        seconds(len as f64 / (self.compress_mb_s * 1e6))
    }

    /// Estimated time to compress `len` bytes, send them over a link of
    /// `bytes_per_sec`, and decompress them.
    pub fn transfer_time(&self, len: usize, bytes_per_sec: u64) -> Duration {
        let len = len as f64;
        let wire = len / self.ratio / bytes_per_sec.max(1) as f64;
        let work = len / (self.compress_mb_s * 1e6) + len / (self.decompress_mb_s * 1e6);
        seconds(wire + work)
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.encoder.compression() == Compression::None {
            return f.write_str("none (ratio 1)");
        }
        write!(
            f,
            "{} (ratio {:.2}, compress {:.0} MB/s, decompress {:.0} MB/s)",
            self.encoder, self.ratio, self.compress_mb_s, self.decompress_mb_s
        )
    }
}

/// A selection and the reasons for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// The goal it was chosen for.
    pub goal: Goal,
    /// The chosen encoder's figures.
    pub chosen: Figures,
    /// The typical payload size, in bytes, that budgets were computed for.
    pub payload_len: usize,
    /// Every candidate's figures, as measured in the same round.
    pub candidates: Vec<Figures>,
}

impl Choice {
    /// Applies `goal` to measured `candidates` for payloads of `payload_len`
    /// bytes; `None` when there are no candidates. This is the whole policy,
    /// without measuring.
    pub fn select(goal: Goal, payload_len: usize, candidates: Vec<Figures>) -> Option<Choice> {
        let faster = |a: &Figures, b: &Figures| a.compress_mb_s.total_cmp(&b.compress_mb_s);
        let smaller = |a: &Figures, b: &Figures| a.ratio.total_cmp(&b.ratio).then(faster(a, b));
        let compressing = || {
            candidates
                .iter()
                .filter(|f| f.encoder.compression() != Compression::None)
        };
        let chosen = match goal {
            Goal::Fastest => compressing()
                .max_by(|a, b| faster(a, b).then(a.ratio.total_cmp(&b.ratio)))
                .or(candidates.first()),
            Goal::Smallest => candidates.iter().max_by(|a, b| smaller(a, b)),
            Goal::Latency(budget) => candidates
                .iter()
                .filter(|f| f.compress_time(payload_len) <= budget)
                .max_by(|a, b| smaller(a, b))
                .or_else(|| candidates.iter().max_by(|a, b| faster(a, b))),
            Goal::Bandwidth(bytes_per_sec) => candidates.iter().min_by(|a, b| {
                let time = |f: &Figures| f.transfer_time(payload_len, bytes_per_sec);
                time(a).cmp(&time(b)).then(faster(b, a))
            }),
        }
        .copied()?;
        Some(Choice {
            goal,
            chosen,
            payload_len,
            candidates,
        })
    }

    /// The chosen encoder.
    pub fn encoder(&self) -> Encoder {
        self.chosen.encoder
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.payload_len;
        write!(
            f,
            "{} for goal {} on {len}-byte payloads: {}",
            self.chosen.encoder, self.goal, self.chosen
        )?;
        match self.goal {
            Goal::Latency(_) => write!(f, ", {:?} to compress", self.chosen.compress_time(len))?,
            Goal::Bandwidth(bps) => {
                write!(f, ", {:?} end to end", self.chosen.transfer_time(len, bps))?
            }
            Goal::Fastest | Goal::Smallest => {}
        }
        let others: Vec<String> = self
            .candidates
            .iter()
            .filter(|c| c.encoder != self.chosen.encoder)
            .map(ToString::to_string)
            .collect();
        if !others.is_empty() {
            write!(f, "; other candidates: {}", others.join(", "))?;
        }
        Ok(())
    }
}

/// A source of figures: real measurement ([`WallClock`]) or, in tests, known ones.
pub trait Probe {
    /// Measures `encoder` on `samples`.
    fn measure(&mut self, encoder: Encoder, samples: &[Vec<u8>]) -> Result<Figures, Error>;

    /// The current time, for [`Policy::remeasure_after`].
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Measures by compressing and decompressing the samples and timing it.
///
/// Each direction is repeated until it has taken at least a millisecond (at
/// most 16 passes), so that timer resolution does not dominate small samples.
#[derive(Clone, Debug, Default)]
pub struct WallClock {
    packed: Vec<Vec<u8>>,
    scratch: Vec<u8>,
}

impl Probe for WallClock {
    fn measure(&mut self, encoder: Encoder, samples: &[Vec<u8>]) -> Result<Figures, Error> {
        if encoder.compression() == Compression::None {
            return Ok(Figures::identity());
        }
        let total: usize = samples.iter().map(Vec::len).sum();
        self.packed.resize_with(samples.len(), Vec::new);
        let compress = timed(|| {
            for (sample, packed) in samples.iter().zip(&mut self.packed) {
                packed.clear();
                encoder.compress(sample, packed)?;
            }
            Ok(())
        })?;
        let packed_total: usize = self.packed.iter().map(Vec::len).sum();
        let decompress = timed(|| {
            for (sample, packed) in samples.iter().zip(&self.packed) {
                self.scratch.clear();
                encoder
                    .compression()
                    .decompress(packed, sample.len(), &mut self.scratch)?;
            }
            Ok(())
        })?;
        let mb_s = |time: Duration| total as f64 / 1e6 / time.as_secs_f64().max(1e-9);
        Ok(Figures {
            encoder,
            ratio: total.max(1) as f64 / packed_total.max(1) as f64,
            compress_mb_s: mb_s(compress),
            decompress_mb_s: mb_s(decompress),
        })
    }
}

/// When a [`Selector`] samples payloads and re-measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Keep every n-th payload as a sample (1 keeps all).
    pub sample_every: u64,
    /// How many samples to keep; older ones are dropped.
    pub samples: usize,
    /// Bytes kept of each sample.
    pub sample_len: usize,
    /// Re-measure after this many payloads.
    pub remeasure_every: u64,
    /// Re-measure when this long has passed since the last measurement.
    pub remeasure_after: Duration,
}

impl Default for Policy {
    /// Samples every 8th payload, keeps four of 64 KiB, re-measures every
    /// 1000 payloads or every minute.
    fn default() -> Self {
        Policy {
            sample_every: 8,
            samples: 4,
            sample_len: 64 * 1024,
            remeasure_every: 1000,
            remeasure_after: Duration::from_secs(60),
        }
    }
}

/// Chooses an encoder per payload for a [`Goal`], re-measuring as the
/// payloads and the machine change. See the [module docs](self) for the policy.
///
/// ```
/// use otlp_compression::adaptive::{Goal, Selector};
///
/// let mut selector = Selector::new(Goal::Fastest);
/// # let payload = vec![7u8; 4096];
/// let encoder = selector.observe(&payload);
/// let mut body = Vec::new();
/// encoder.compress(&payload, &mut body)?;
/// println!("{}", selector.choice().expect("measured on the first payload"));
/// # Ok::<(), otlp_compression::Error>(())
/// ```
#[derive(Debug)]
pub struct Selector<P = WallClock> {
    goal: Goal,
    policy: Policy,
    candidates: Vec<Encoder>,
    probe: P,
    samples: VecDeque<Vec<u8>>,
    typical_len: f64,
    seen: u64,
    since_measured: u64,
    measured_at: Option<Instant>,
    choice: Option<Choice>,
}

impl Selector<WallClock> {
    /// A selector for `goal` over [`default_candidates`], measuring real work.
    pub fn new(goal: Goal) -> Self {
        Selector::with_probe(goal, WallClock::default())
    }
}

impl<P: Probe> Selector<P> {
    /// A selector that takes its figures from `probe`.
    pub fn with_probe(goal: Goal, probe: P) -> Self {
        Selector {
            goal,
            policy: Policy::default(),
            candidates: default_candidates(),
            probe,
            samples: VecDeque::new(),
            typical_len: 0.0,
            seen: 0,
            since_measured: 0,
            measured_at: None,
            choice: None,
        }
    }

    /// Chooses among `candidates` instead; those this build does not support
    /// are dropped. List only codings the peer accepts: every OTLP receiver
    /// takes `gzip`, others only if it says so.
    pub fn candidates(mut self, candidates: impl IntoIterator<Item = Encoder>) -> Self {
        self.candidates = candidates
            .into_iter()
            .filter(|e| e.compression().is_supported())
            .collect();
        self.choice = None;
        self
    }

    /// Samples and re-measures on `policy` instead of the default.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Accounts for `payload` (sampling it, re-measuring when due) and
    /// returns the encoder to compress it with.
    pub fn observe(&mut self, payload: &[u8]) -> Encoder {
        self.seen += 1;
        self.since_measured += 1;
        // A moving average over about the last eight payloads.
        self.typical_len += (payload.len() as f64 - self.typical_len) / self.seen.min(8) as f64;
        if self.samples.is_empty() || self.seen.is_multiple_of(self.policy.sample_every.max(1)) {
            if self.samples.len() >= self.policy.samples.max(1) {
                self.samples.pop_front();
            }
            self.samples
                .push_back(payload[..payload.len().min(self.policy.sample_len)].to_vec());
        }
        if self.due() {
            self.measure();
        }
        self.encoder()
    }

    /// The encoder currently chosen (the first candidate before any measurement).
    pub fn encoder(&self) -> Encoder {
        match &self.choice {
            Some(choice) => choice.encoder(),
            None => self.candidates.first().copied().unwrap_or_default(),
        }
    }

    /// The last choice and its reasons, once measured.
    pub fn choice(&self) -> Option<&Choice> {
        self.choice.as_ref()
    }

    /// Measures every candidate on the current samples and chooses now.
    /// Candidates whose measurement fails are left out of the choice.
    pub fn measure(&mut self) -> Option<&Choice> {
        self.since_measured = 0;
        self.measured_at = Some(self.probe.now());
        let samples = self.samples.make_contiguous();
        let probe = &mut self.probe;
        let figures: Vec<Figures> = self
            .candidates
            .iter()
            .filter_map(|&encoder| probe.measure(encoder, samples).ok())
            .collect();
        if let Some(choice) = Choice::select(self.goal, self.typical_len.round() as usize, figures)
        {
            self.choice = Some(choice);
        }
        self.choice.as_ref()
    }

    fn due(&self) -> bool {
        match self.measured_at {
            None => true,
            Some(at) => {
                self.since_measured >= self.policy.remeasure_every
                    || self.probe.now().saturating_duration_since(at) >= self.policy.remeasure_after
            }
        }
    }
}

/// The candidates a [`Selector`] starts with, among those this build supports:
/// `none`, `snappy`, `lz4`, `gzip` at 1, 6 and 9, `zstd` at -1, 1, 3 and 9.
///
/// Deflate and framed snappy are left out: the same algorithms as gzip and
/// snappy, with no gain on the wire.
pub fn default_candidates() -> Vec<Encoder> {
    let at = |c, l| Encoder::new(c).with_level(Level::Precise(l));
    [
        Encoder::new(Compression::None),
        Encoder::new(Compression::Snappy),
        Encoder::new(Compression::Lz4),
        at(Compression::Gzip, 1),
        at(Compression::Gzip, 6),
        at(Compression::Gzip, 9),
        at(Compression::Zstd, -1),
        at(Compression::Zstd, 1),
        at(Compression::Zstd, 3),
        at(Compression::Zstd, 9),
    ]
    .into_iter()
    .filter(|e| e.compression().is_supported())
    .collect()
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// Runs `work` until it has taken at least a millisecond (at most 16 times)
/// and returns the time of one run.
fn timed(mut work: impl FnMut() -> Result<(), Error>) -> Result<Duration, Error> {
    let start = Instant::now();
    let mut runs = 0u32;
    while runs < 16 && (runs == 0 || start.elapsed() < Duration::from_millis(1)) {
        work()?;
        runs += 1;
    }
    Ok(start.elapsed() / runs)
}
