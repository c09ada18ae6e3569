//! Adaptive selection, fed known figures so that no result depends on the
//! speed of the machine running the tests (except the last test, which only
//! checks that real measurement yields a valid choice).

#[path = "../support/mod.rs"]
mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use otlp_compression::adaptive::{Choice, Figures, Goal, Policy, Probe, Selector};
use otlp_compression::{Compression, Encoder, Error, Level};

use support::otlp_like;

fn enc(compression: Compression, level: i32) -> Encoder {
    Encoder::new(compression).with_level(Level::Precise(level))
}

fn fig(encoder: Encoder, ratio: f64, compress_mb_s: f64, decompress_mb_s: f64) -> Figures {
    Figures {
        encoder,
        ratio,
        compress_mb_s,
        decompress_mb_s,
    }
}

/// Figures shaped like traces.pb on a typical machine.
fn table() -> Vec<Figures> {
    vec![
        Figures::identity(),
        fig(enc(Compression::Snappy, 0), 4.0, 1000.0, 3000.0),
        fig(enc(Compression::Gzip, 1), 4.8, 550.0, 1200.0),
        fig(enc(Compression::Gzip, 6), 6.4, 180.0, 1500.0),
        fig(enc(Compression::Zstd, 1), 6.9, 900.0, 2600.0),
        fig(enc(Compression::Zstd, 9), 8.4, 110.0, 3200.0),
    ]
}

fn select(goal: Goal, payload_len: usize) -> Encoder {
    Choice::select(goal, payload_len, table())
        .expect("candidates")
        .encoder()
}

#[test]
fn fastest_is_the_fastest_that_compresses() {
    assert_eq!(select(Goal::Fastest, 100_000), enc(Compression::Snappy, 0));
    let only_none = Choice::select(Goal::Fastest, 1, vec![Figures::identity()]).expect("one");
    assert_eq!(only_none.encoder().compression(), Compression::None);
    assert!(Choice::select(Goal::Fastest, 1, Vec::new()).is_none());
}

#[test]
fn smallest_is_the_best_ratio() {
    assert_eq!(select(Goal::Smallest, 100_000), enc(Compression::Zstd, 9));
}

#[test]
fn ties_go_to_the_faster() {
    let tied = vec![
        fig(enc(Compression::Gzip, 9), 5.0, 100.0, 1000.0),
        fig(enc(Compression::Zstd, 3), 5.0, 500.0, 1000.0),
    ];
    let choice = Choice::select(Goal::Smallest, 1000, tied).expect("candidates");
    assert_eq!(choice.encoder(), enc(Compression::Zstd, 3));
}

#[test]
fn latency_budget_takes_the_smallest_output_that_fits() {
    // 1 MB payloads: zstd-9 needs 9.1 ms, gzip-6 5.6 ms, zstd-1 1.1 ms.
    assert_eq!(
        select(Goal::Latency(Duration::from_millis(10)), 1_000_000),
        enc(Compression::Zstd, 9)
    );
    assert_eq!(
        select(Goal::Latency(Duration::from_millis(5)), 1_000_000),
        enc(Compression::Zstd, 1)
    );
    // Only `none` fits a budget of nothing.
    assert_eq!(
        select(Goal::Latency(Duration::ZERO), 1_000_000),
        Encoder::new(Compression::None)
    );
    // Without `none` among the candidates and nothing fitting: the fastest.
    let compressing: Vec<Figures> = table().into_iter().skip(1).collect();
    let choice =
        Choice::select(Goal::Latency(Duration::ZERO), 1_000_000, compressing).expect("candidates");
    assert_eq!(choice.encoder(), enc(Compression::Snappy, 0));
}

#[test]
fn bandwidth_trades_cpu_for_bytes() {
    // A slow link rewards the best ratio, a fast one the cheapest coding, and
    // past the speed of every compressor, sending as is.
    assert_eq!(
        select(Goal::Bandwidth(1_000_000), 1_000_000),
        enc(Compression::Zstd, 9)
    );
    assert_eq!(
        select(Goal::Bandwidth(100_000_000), 1_000_000),
        enc(Compression::Zstd, 1)
    );
    assert_eq!(
        select(Goal::Bandwidth(100_000_000_000), 1_000_000),
        Encoder::new(Compression::None)
    );
}

#[test]
fn the_choice_explains_itself() {
    let choice = Choice::select(Goal::Bandwidth(10_000_000), 500_000, table()).expect("candidates");
    assert_eq!(choice.candidates.len(), table().len());
    assert_eq!(choice.payload_len, 500_000);
    let text = choice.to_string();
    assert!(
        text.starts_with(&format!(
            "{} for goal bandwidth 10.0 MB/s",
            choice.encoder()
        )),
        "{text}"
    );
    assert!(
        text.contains("end to end") && text.contains("other candidates: none (ratio 1)"),
        "{text}"
    );
}

/// Figures from a table, a call count, and a clock the test moves.
#[derive(Clone)]
struct Fake {
    figures: Rc<Cell<Vec<Figures>>>,
    measured: Rc<Cell<usize>>,
    sampled: Rc<Cell<Vec<usize>>>,
    start: Instant,
    elapsed: Rc<Cell<Duration>>,
}

impl Fake {
    fn new(figures: Vec<Figures>) -> Self {
        Fake {
            figures: Rc::new(Cell::new(figures)),
            measured: Rc::default(),
            sampled: Rc::default(),
            start: Instant::now(),
            elapsed: Rc::default(),
        }
    }

    fn rounds(&self, candidates: usize) -> usize {
        self.measured.get() / candidates
    }
}

impl Probe for Fake {
    fn measure(&mut self, encoder: Encoder, samples: &[Vec<u8>]) -> Result<Figures, Error> {
        self.measured.set(self.measured.get() + 1);
        self.sampled.set(samples.iter().map(Vec::len).collect());
        let figures = self.figures.take();
        let found = figures.iter().find(|f| f.encoder == encoder).copied();
        self.figures.set(figures);
        found.ok_or(Error::Unsupported {
            compression: encoder.compression(),
        })
    }

    fn now(&self) -> Instant {
        self.start + self.elapsed.get()
    }
}

fn supported_table() -> Vec<Figures> {
    table()
        .into_iter()
        .filter(|f| f.encoder.compression().is_supported())
        .collect()
}

fn selector(goal: Goal, fake: &Fake, policy: Policy) -> Selector<Fake> {
    let candidates: Vec<Encoder> = supported_table().iter().map(|f| f.encoder).collect();
    Selector::with_probe(goal, fake.clone())
        .candidates(candidates)
        .policy(policy)
}

#[test]
fn measures_on_the_first_payload_then_every_n() {
    let fake = Fake::new(supported_table());
    let n = supported_table().len();
    let policy = Policy {
        remeasure_every: 10,
        remeasure_after: Duration::MAX,
        ..Policy::default()
    };
    let mut selector = selector(Goal::Smallest, &fake, policy);
    assert!(selector.choice().is_none());
    selector.observe(b"first");
    assert_eq!(fake.rounds(n), 1);
    for _ in 0..9 {
        selector.observe(b"more");
    }
    assert_eq!(fake.rounds(n), 1, "not yet due");
    selector.observe(b"tenth since");
    assert_eq!(fake.rounds(n), 2);
}

#[test]
fn remeasures_when_time_has_passed() {
    let fake = Fake::new(supported_table());
    let n = supported_table().len();
    let policy = Policy {
        remeasure_every: u64::MAX,
        remeasure_after: Duration::from_secs(60),
        ..Policy::default()
    };
    let mut selector = selector(Goal::Smallest, &fake, policy);
    selector.observe(b"first");
    fake.elapsed.set(Duration::from_secs(59));
    selector.observe(b"second");
    assert_eq!(fake.rounds(n), 1);
    fake.elapsed.set(Duration::from_secs(60));
    selector.observe(b"third");
    assert_eq!(fake.rounds(n), 2);
}

#[test]
fn follows_the_figures_when_they_change() {
    let fake = Fake::new(supported_table());
    let policy = Policy {
        remeasure_every: 2,
        ..Policy::default()
    };
    let mut selector = selector(Goal::Fastest, &fake, policy);
    let first = selector.observe(b"payload");
    let fastest_before = supported_table()
        .into_iter()
        .filter(|f| f.encoder.compression() != Compression::None)
        .max_by(|a, b| a.compress_mb_s.total_cmp(&b.compress_mb_s))
        .map_or(Encoder::new(Compression::None), |f| f.encoder);
    assert_eq!(first, fastest_before);
    // The machine gets busy: now the slowest other compression is measured
    // fastest (whichever this build has; with only one there is nothing to
    // follow).
    let Some(slowest) = supported_table()
        .into_iter()
        .filter(|f| f.encoder.compression() != Compression::None && f.encoder != fastest_before)
        .min_by(|a, b| a.compress_mb_s.total_cmp(&b.compress_mb_s))
        .map(|f| f.encoder)
    else {
        return;
    };
    let changed = supported_table()
        .into_iter()
        .map(|f| {
            if f.encoder == slowest {
                Figures {
                    compress_mb_s: 5000.0,
                    ..f
                }
            } else {
                f
            }
        })
        .collect();
    fake.figures.set(changed);
    selector.observe(b"payload");
    assert_eq!(selector.observe(b"payload"), slowest);
    assert_eq!(
        selector.choice().map(|c| c.chosen.compress_mb_s),
        Some(5000.0)
    );
}

#[test]
fn samples_are_few_and_short() {
    let fake = Fake::new(supported_table());
    let policy = Policy {
        sample_every: 2,
        samples: 3,
        sample_len: 100,
        remeasure_every: 1,
        ..Policy::default()
    };
    let mut selector = selector(Goal::Smallest, &fake, policy);
    selector.observe(&[1; 50]);
    assert_eq!(fake.sampled.take(), vec![50]);
    for len in [1000, 1000, 1000, 1000, 1000, 1000, 7] {
        selector.observe(&vec![1; len]);
    }
    // Payloads 1, 2, 4, 6 and 8 were sampled, cut to 100 bytes; the last three are kept.
    assert_eq!(fake.sampled.take(), vec![100, 100, 7]);
}

#[test]
fn budgets_use_the_typical_payload_size() {
    let fake = Fake::new(supported_table());
    let policy = Policy {
        remeasure_every: 1,
        ..Policy::default()
    };
    let mut selector = selector(Goal::Latency(Duration::from_millis(1)), &fake, policy);
    for _ in 0..16 {
        selector.observe(&[0; 100_000]);
    }
    let choice = selector.choice().expect("measured");
    assert_eq!(choice.payload_len, 100_000);
    assert!(choice.chosen.compress_time(100_000) <= Duration::from_millis(1));
}

#[test]
fn failed_measurements_leave_the_candidate_out() {
    // The probe knows no figures for zstd-3: it is not chosen, the rest are.
    let fake = Fake::new(supported_table());
    let mut selector = Selector::with_probe(Goal::Smallest, fake.clone())
        .candidates([enc(Compression::Zstd, 3), Encoder::new(Compression::None)]);
    assert_eq!(selector.observe(b"x"), Encoder::new(Compression::None));
    assert_eq!(selector.choice().map(|c| c.candidates.len()), Some(1));
}

#[test]
fn lz4_is_a_default_candidate_when_compiled_in() {
    let listed = otlp_compression::adaptive::default_candidates()
        .iter()
        .any(|e| e.compression() == Compression::Lz4);
    assert_eq!(listed, Compression::Lz4.is_supported());
}

#[test]
fn lz4_is_chosen_where_its_figures_win() {
    // Figures like lz4_flex's on traces.pb: snappy's ratio, faster both ways.
    let mut figures = table();
    figures.push(fig(enc(Compression::Lz4, 0), 4.1, 1300.0, 3500.0));
    let select = |goal| {
        Choice::select(goal, 1_000_000, figures.clone())
            .expect("candidates")
            .encoder()
    };
    assert_eq!(select(Goal::Fastest), Encoder::new(Compression::Lz4));
    assert_eq!(select(Goal::Smallest), enc(Compression::Zstd, 9));
    // A 400 MB/s link: cheap compression pays, zstd-1 costs more CPU than it saves.
    assert_eq!(
        select(Goal::Bandwidth(400_000_000)),
        Encoder::new(Compression::Lz4)
    );
}

#[test]
fn unsupported_candidates_are_dropped() {
    let selector = Selector::new(Goal::Fastest).candidates(Compression::ALL.map(Encoder::new));
    let encoder = selector.encoder();
    assert!(encoder.compression().is_supported());
}

#[test]
fn real_measurement_yields_a_valid_choice() {
    let payload = otlp_like(200_000, 11);
    for goal in [
        Goal::Fastest,
        Goal::Smallest,
        Goal::Latency(Duration::from_millis(5)),
        Goal::Bandwidth(10_000_000),
    ] {
        let mut selector = Selector::new(goal);
        let encoder = selector.observe(&payload);
        let choice = selector.choice().expect("measured on the first payload");
        assert_eq!(choice.encoder(), encoder);
        assert!(encoder.compression().is_supported());
        for f in &choice.candidates {
            assert!(
                f.ratio >= 1.0 && f.compress_mb_s > 0.0 && f.decompress_mb_s > 0.0,
                "{f}"
            );
        }
        let mut packed = Vec::new();
        encoder.compress(&payload, &mut packed).expect("compress");
        let mut out = Vec::new();
        encoder
            .compression()
            .decompress(&packed, payload.len(), &mut out)
            .expect("decompress");
        assert_eq!(out, payload);
    }
}
