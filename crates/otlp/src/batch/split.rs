//! Splitting and merging export requests record by record, for every signal.
//!
//! A request is a tree: resources hold scopes, scopes hold records (spans,
//! log records), and for metrics scopes hold metrics that hold data points.
//! Splitting moves records out (never cloning them) and clones only the
//! metadata of a resource, scope or metric cut in two. Merging appends, and
//! joins the last group of one request with the first of the next when their
//! metadata are equal, so that batching many small requests of one service
//! does not repeat its resource in every one.

use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::logs::v1::{ResourceLogs, ScopeLogs};
use otlp_proto::metrics::v1::metric::Data;
use otlp_proto::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans};
use otlp_transport::ExportRequest;

/// Splits `request` into requests of at most `max_records` records each (at
/// least 1), in order; nothing is lost or duplicated, and metadata are kept.
///
/// Profiles are returned whole: their requests share one dictionary that
/// every profile indexes into, so they cannot be cut without re-indexing.
///
/// ```
/// use otlp::batch::split;
/// use otlp_transport::ExportRequest;
///
/// let request = ExportRequest::from(otlp_datagen::Generator::new(1).spans(1_000).traces());
/// let parts = split(request, 512);
/// let sizes: Vec<usize> = parts.iter().map(ExportRequest::record_count).collect();
/// assert_eq!(sizes, [512, 488]);
/// ```
pub fn split(request: ExportRequest, max_records: usize) -> Vec<ExportRequest> {
    let max_records = max_records.max(1);
    if request.record_count() <= max_records {
        return vec![request];
    }
    chunks(request, max_records)
}

/// Appends `other` to `into` when both carry the same signal, joining
/// adjacent resources, scopes and metrics with equal metadata. Gives `other`
/// back when it cannot be merged: another signal, or profiles (whose
/// dictionaries cannot be combined without re-indexing).
#[expect(
    clippy::result_large_err,
    reason = "the request refused is given back by move, as `Vec::push_within_capacity` does"
)]
pub fn merge(into: &mut ExportRequest, other: ExportRequest) -> Result<(), ExportRequest> {
    match (into, other) {
        (ExportRequest::Traces(a), ExportRequest::Traces(b)) => a.append(b),
        (ExportRequest::Metrics(a), ExportRequest::Metrics(b)) => a.append(b),
        (ExportRequest::Logs(a), ExportRequest::Logs(b)) => a.append(b),
        (_, other) => return Err(other),
    }
    Ok(())
}

/// Cuts `request` into pieces of `max` records, the last one with the rest,
/// in one pass: each record is moved once, however large the request.
/// Profiles come back whole (they cannot be cut).
pub(crate) fn chunks(request: ExportRequest, max: usize) -> Vec<ExportRequest> {
    let mut pieces: Vec<ExportRequest> = match request {
        ExportRequest::Traces(r) => r.chunks(max, max).into_iter().map(Into::into).collect(),
        ExportRequest::Metrics(r) => r.chunks(max, max).into_iter().map(Into::into).collect(),
        ExportRequest::Logs(r) => r.chunks(max, max).into_iter().map(Into::into).collect(),
        profiles @ ExportRequest::Profiles(_) => return vec![profiles],
    };
    // Groups without records (an empty scope) after the last full piece
    // would make a piece of their own: an empty envelope, which OTLP senders
    // should not send. They stay with the piece before.
    if pieces.len() > 1
        && pieces.last().is_some_and(ExportRequest::is_empty)
        && let Some(last) = pieces.pop()
        && let Some(before) = pieces.last_mut()
        && let Err(last) = merge(before, last)
    {
        pieces.push(last);
    }
    pieces
}

/// A node of a request's tree.
trait Part: Sized {
    /// The records under this node.
    fn records(&self) -> usize;
    /// Cuts the node into pieces with the same metadata: the first holds
    /// `first` records (1 ≤ `first` < records), the next `max` each, the
    /// last the rest.
    fn chunks(self, first: usize, max: usize) -> Vec<Self>;
    /// Whether `other` has the same metadata, so that the two may be joined.
    fn same_group(&self, other: &Self) -> bool;
    /// Appends the children of `other`.
    fn append(&mut self, other: Self);
}

/// Deals `children` into groups: the first with `first` records, the next
/// with `max` each, the last with the rest; a child that does not fit whole
/// is cut with [`Part::chunks`].
fn chunk_children<C: Part>(children: Vec<C>, first: usize, max: usize) -> Vec<Vec<C>> {
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut room = first;
    for child in children {
        let records = child.records();
        if records <= room {
            current.push(child);
            room -= records;
        } else {
            let mut pieces = child.chunks(room, max).into_iter();
            current.extend(pieces.next());
            for piece in pieces {
                groups.push(std::mem::take(&mut current));
                room = max - piece.records();
                current.push(piece);
            }
        }
        if room == 0 {
            groups.push(std::mem::take(&mut current));
            room = max;
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// [`chunk_children`] for records, which are never cut.
fn chunk_records<T>(records: Vec<T>, first: usize, max: usize) -> Vec<Vec<T>> {
    let mut records = records.into_iter();
    let mut groups = vec![records.by_ref().take(first).collect::<Vec<T>>()];
    loop {
        let group: Vec<T> = records.by_ref().take(max).collect();
        if group.is_empty() {
            return groups;
        }
        groups.push(group);
    }
}

fn append_children<C: Part>(mine: &mut Vec<C>, theirs: Vec<C>) {
    let mut theirs = theirs.into_iter();
    if let Some(first) = theirs.next() {
        match mine.last_mut() {
            Some(last) if last.same_group(&first) => last.append(first),
            _ => mine.push(first),
        }
    }
    mine.extend(theirs);
}

/// `Part` for a request or group whose children are groups.
macro_rules! groups {
    ($($ty:ident { $children:ident $(, $meta:ident)* })*) => {$(
        impl Part for $ty {
            fn records(&self) -> usize {
                self.$children.iter().map(Part::records).sum()
            }
            fn chunks(self, first: usize, max: usize) -> Vec<Self> {
                chunk_children(self.$children, first, max)
                    .into_iter()
                    .map(|$children| Self { $children, $($meta: self.$meta.clone(),)* })
                    .collect()
            }
            fn same_group(&self, _other: &Self) -> bool {
                true $(&& self.$meta == _other.$meta)*
            }
            fn append(&mut self, other: Self) {
                append_children(&mut self.$children, other.$children);
            }
        }
    )*};
}

/// `Part` for a group whose children are records.
macro_rules! records {
    ($($ty:ident { $children:ident $(, $meta:ident)* })*) => {$(
        impl Part for $ty {
            fn records(&self) -> usize {
                self.$children.len()
            }
            fn chunks(self, first: usize, max: usize) -> Vec<Self> {
                chunk_records(self.$children, first, max)
                    .into_iter()
                    .map(|$children| Self { $children, $($meta: self.$meta.clone(),)* })
                    .collect()
            }
            fn same_group(&self, other: &Self) -> bool {
                true $(&& self.$meta == other.$meta)*
            }
            fn append(&mut self, other: Self) {
                self.$children.extend(other.$children);
            }
        }
    )*};
}

groups! {
    ExportTraceServiceRequest { resource_spans }
    ResourceSpans { scope_spans, resource, schema_url }
    ExportMetricsServiceRequest { resource_metrics }
    ResourceMetrics { scope_metrics, resource, schema_url }
    ScopeMetrics { metrics, scope, schema_url }
    ExportLogsServiceRequest { resource_logs }
    ResourceLogs { scope_logs, resource, schema_url }
}

records! {
    ScopeSpans { spans, scope, schema_url }
    ScopeLogs { log_records, scope, schema_url }
}

/// A metric's data points are its records; its name, unit, type,
/// temporality and monotonicity are the metadata that a split copies.
impl Part for Metric {
    fn records(&self) -> usize {
        match &self.data {
            Some(Data::Gauge(d)) => d.data_points.len(),
            Some(Data::Sum(d)) => d.data_points.len(),
            Some(Data::Histogram(d)) => d.data_points.len(),
            Some(Data::ExponentialHistogram(d)) => d.data_points.len(),
            Some(Data::Summary(d)) => d.data_points.len(),
            None => 0,
        }
    }

    fn chunks(self, first: usize, max: usize) -> Vec<Self> {
        use otlp_proto::metrics::v1::{ExponentialHistogram, Gauge, Histogram, Sum, Summary};
        let Metric {
            name,
            description,
            unit,
            metadata,
            data,
        } = self;
        let with = |data: Data| Metric {
            name: name.clone(),
            description: description.clone(),
            unit: unit.clone(),
            metadata: metadata.clone(),
            data: Some(data),
        };
        match data {
            Some(Data::Gauge(d)) => chunk_records(d.data_points, first, max)
                .into_iter()
                .map(|data_points| with(Data::Gauge(Gauge { data_points })))
                .collect(),
            Some(Data::Sum(d)) => chunk_records(d.data_points, first, max)
                .into_iter()
                .map(|data_points| {
                    with(Data::Sum(Sum {
                        data_points,
                        aggregation_temporality: d.aggregation_temporality,
                        is_monotonic: d.is_monotonic,
                    }))
                })
                .collect(),
            Some(Data::Histogram(d)) => chunk_records(d.data_points, first, max)
                .into_iter()
                .map(|data_points| {
                    with(Data::Histogram(Histogram {
                        data_points,
                        aggregation_temporality: d.aggregation_temporality,
                    }))
                })
                .collect(),
            Some(Data::ExponentialHistogram(d)) => chunk_records(d.data_points, first, max)
                .into_iter()
                .map(|data_points| {
                    with(Data::ExponentialHistogram(ExponentialHistogram {
                        data_points,
                        aggregation_temporality: d.aggregation_temporality,
                    }))
                })
                .collect(),
            Some(Data::Summary(d)) => chunk_records(d.data_points, first, max)
                .into_iter()
                .map(|data_points| with(Data::Summary(Summary { data_points })))
                .collect(),
            // No data point: nothing to cut.
            None => vec![Metric {
                name,
                description,
                unit,
                metadata,
                data: None,
            }],
        }
    }

    fn same_group(&self, other: &Self) -> bool {
        let same_kind = match (&self.data, &other.data) {
            (Some(Data::Gauge(_)), Some(Data::Gauge(_))) => true,
            (Some(Data::Sum(a)), Some(Data::Sum(b))) => {
                a.aggregation_temporality == b.aggregation_temporality
                    && a.is_monotonic == b.is_monotonic
            }
            (Some(Data::Histogram(a)), Some(Data::Histogram(b))) => {
                a.aggregation_temporality == b.aggregation_temporality
            }
            (Some(Data::ExponentialHistogram(a)), Some(Data::ExponentialHistogram(b))) => {
                a.aggregation_temporality == b.aggregation_temporality
            }
            (Some(Data::Summary(_)), Some(Data::Summary(_))) => true,
            _ => false,
        };
        same_kind
            && self.name == other.name
            && self.description == other.description
            && self.unit == other.unit
            && self.metadata == other.metadata
    }

    fn append(&mut self, other: Self) {
        match (&mut self.data, other.data) {
            (Some(Data::Gauge(a)), Some(Data::Gauge(b))) => a.data_points.extend(b.data_points),
            (Some(Data::Sum(a)), Some(Data::Sum(b))) => a.data_points.extend(b.data_points),
            (Some(Data::Histogram(a)), Some(Data::Histogram(b))) => {
                a.data_points.extend(b.data_points)
            }
            (Some(Data::ExponentialHistogram(a)), Some(Data::ExponentialHistogram(b))) => {
                a.data_points.extend(b.data_points)
            }
            (Some(Data::Summary(a)), Some(Data::Summary(b))) => a.data_points.extend(b.data_points),
            // `append_children` joins only metrics that `same_group` matched.
            _ => unreachable!("only metrics of the same kind are joined"),
        }
    }
}

#[cfg(test)]
mod tests {
    use otlp_datagen::Generator;
    use otlp_proto::collector::profiles::v1development::ExportProfilesServiceRequest;

    use super::*;

    fn requests() -> Vec<ExportRequest> {
        let generator = Generator::new(7).resources(3).records(1_000);
        vec![
            generator.traces().into(),
            generator.metrics().into(),
            generator.logs().into(),
        ]
    }

    #[test]
    fn split_parts_hold_at_most_max_records_and_merge_back_to_the_original() {
        for request in requests() {
            for max in [1, 7, 100, 512, 999, 1_000, 5_000] {
                let parts = split(request.clone(), max);
                let expected_parts = request.record_count().div_ceil(max);
                assert_eq!(
                    parts.len(),
                    expected_parts,
                    "{} max {max}",
                    request.signal()
                );
                assert!(
                    parts
                        .iter()
                        .all(|p| p.record_count() <= max && p.record_count() > 0)
                );
                let mut parts = parts.into_iter();
                let mut joined = parts.next().unwrap();
                for part in parts {
                    merge(&mut joined, part).unwrap();
                }
                assert_eq!(joined, request, "{} max {max}", request.signal());
            }
        }
    }

    #[test]
    fn split_keeps_the_metadata_of_cut_groups() {
        let request = ExportRequest::from(Generator::new(3).resources(1).spans(100).traces());
        let ExportRequest::Traces(original) = &request else {
            unreachable!()
        };
        for part in split(request.clone(), 30) {
            let ExportRequest::Traces(part) = part else {
                unreachable!()
            };
            for rs in &part.resource_spans {
                assert_eq!(rs.resource, original.resource_spans[0].resource);
                for ss in &rs.scope_spans {
                    assert!(
                        original.resource_spans[0]
                            .scope_spans
                            .iter()
                            .any(|o| o.scope == ss.scope)
                    );
                }
            }
        }
    }

    #[test]
    fn merge_joins_adjacent_groups_with_equal_metadata() {
        let small = ExportRequest::from(Generator::new(5).resources(1).spans(2).traces());
        let ExportRequest::Traces(one) = &small else {
            unreachable!()
        };
        let scopes = one.resource_spans[0].scope_spans.len();
        let mut batch = small.clone();
        for _ in 0..9 {
            merge(&mut batch, small.clone()).unwrap();
        }
        assert_eq!(batch.record_count(), 10 * small.record_count());
        let ExportRequest::Traces(batch) = batch else {
            unreachable!()
        };
        // Each copy starts with the scope the previous one ended with only if
        // they are the same scope; resources are always joined.
        assert_eq!(batch.resource_spans.len(), 1);
        let joined_scopes = batch.resource_spans[0].scope_spans.len();
        assert!(joined_scopes <= 10 * scopes, "{joined_scopes}");
    }

    #[test]
    fn merge_refuses_other_signals_and_profiles() {
        let mut traces = ExportRequest::from(Generator::new(1).spans(3).traces());
        let logs = ExportRequest::from(Generator::new(1).records(3).logs());
        assert_eq!(merge(&mut traces, logs.clone()), Err(logs));
        let mut profiles = ExportRequest::from(ExportProfilesServiceRequest::default());
        let other = ExportRequest::from(ExportProfilesServiceRequest::default());
        assert_eq!(merge(&mut profiles, other.clone()), Err(other));
    }

    #[test]
    fn metrics_of_another_kind_or_temporality_are_not_joined() {
        use otlp_proto::metrics::v1::{Gauge, NumberDataPoint, Sum};
        let point = NumberDataPoint::default();
        let sum = |temporality| Metric {
            name: "m".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![point.clone()],
                aggregation_temporality: temporality,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let gauge = Metric {
            name: "m".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![point.clone()],
            })),
            ..Default::default()
        };
        assert!(sum(1).same_group(&sum(1)));
        assert!(!sum(1).same_group(&sum(2)));
        assert!(!sum(1).same_group(&gauge));
        let mut joined = sum(1);
        joined.append(sum(1));
        assert_eq!(joined.records(), 2);
    }

    #[test]
    fn trailing_groups_without_records_make_no_piece_of_their_own() {
        let ExportRequest::Logs(mut logs) =
            ExportRequest::from(Generator::new(2).resources(1).records(10).logs())
        else {
            unreachable!()
        };
        let empty_scope = ScopeLogs::default();
        logs.resource_logs[0].scope_logs.push(empty_scope.clone());
        logs.resource_logs.push(ResourceLogs::default());
        let request = ExportRequest::from(logs);
        let parts = split(request.clone(), 5);
        let sizes: Vec<usize> = parts.iter().map(ExportRequest::record_count).collect();
        assert_eq!(sizes, [5, 5]);
        let mut parts = parts.into_iter();
        let mut joined = parts.next().unwrap();
        merge(&mut joined, parts.next().unwrap()).unwrap();
        assert_eq!(joined, request, "the empty groups are kept");
    }

    #[test]
    fn a_huge_scope_is_cut_into_full_pieces() {
        let ExportRequest::Traces(mut traces) =
            ExportRequest::from(Generator::new(4).resources(1).spans(10).traces())
        else {
            unreachable!()
        };
        let scope = &mut traces.resource_spans[0].scope_spans[0];
        let span = scope.spans[0].clone();
        scope.spans = vec![span; 100_000];
        let records = ExportRequest::from(traces.clone()).record_count();
        let parts = split(ExportRequest::from(traces), 512);
        assert_eq!(parts.len(), records.div_ceil(512));
        assert_eq!(
            parts.iter().map(ExportRequest::record_count).sum::<usize>(),
            records
        );
    }

    #[test]
    fn profiles_are_never_split() {
        let request = ExportRequest::from(ExportProfilesServiceRequest::default());
        assert_eq!(split(request.clone(), 1), vec![request]);
    }
}
