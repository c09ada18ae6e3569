//! proptest strategies for every message, generated from the same descriptors as
//! the types, so a field added to `proto/` is generated with the rest.
//!
//! Every message `pkg.Msg.Nested` gets `strategy::<pkg>::msg_nested(depth)`:
//! each field drawn across its whole range (all integers, finite floats, any
//! Unicode string, known and unknown enum numbers, every oneof variant), with
//! repeated fields of 0 to 2 elements. `depth` bounds nesting so that the
//! recursive `AnyValue` terminates: at depth 0 message fields stay empty.

use std::collections::BTreeMap;
use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

const PRELUDE: &str = r#"
#[allow(unused_imports)]
use proptest::prelude::*;
#[allow(unused_imports)]
use proptest::collection::vec;

/// A string of the field's type: `ByteString` in the OTLP messages, `String`
/// in `google.*`.
fn string<S: From<String> + std::fmt::Debug + 'static>() -> BoxedStrategy<S> {
    prop_oneof![Just(String::new()), "[a-z./_ -]{1,12}", any::<String>()]
        .prop_map(S::from)
        .boxed()
}

fn bytes() -> BoxedStrategy<bytes::Bytes> {
    vec(any::<u8>(), 0..20).prop_map(bytes::Bytes::from).boxed()
}

/// Mostly ids of the proper length, sometimes empty (an absent id).
fn id(len: usize) -> BoxedStrategy<bytes::Bytes> {
    prop_oneof![
        1 => Just(bytes::Bytes::new()),
        6 => vec(any::<u8>(), len).prop_map(bytes::Bytes::from),
    ]
    .boxed()
}

/// Every double that survives a round trip through any codec: NaN is not
/// equal to itself, so it is tested by hand instead.
fn double() -> BoxedStrategy<f64> {
    use proptest::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE).boxed()
}

#[allow(dead_code)] // OTLP has no `float` field today.
fn float() -> BoxedStrategy<f32> {
    use proptest::num::f32::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE).boxed()
}

/// Known enum numbers most of the time, any number now and then: proto3 enums
/// are open, so an unknown number must survive too.
fn enumeration(known: &'static [i32]) -> BoxedStrategy<i32> {
    prop_oneof![4 => proptest::sample::select(known), 1 => any::<i32>()].boxed()
}
"#;

/// Renders the strategy module for every message in `descriptors`.
pub(crate) fn render(descriptors: &FileDescriptorSet) -> String {
    let mut enums = BTreeMap::new();
    for file in &descriptors.file {
        let package = file.package();
        for e in &file.enum_type {
            enums.insert(format!(".{package}.{}", e.name()), known_values(e));
        }
        for message in &file.message_type {
            collect_nested_enums(
                &format!(".{package}.{}", message.name()),
                message,
                &mut enums,
            );
        }
    }

    let mut packages: BTreeMap<String, String> = BTreeMap::new();
    for file in &descriptors.file {
        let out = packages.entry(file.package().to_string()).or_default();
        for message in &file.message_type {
            render_message(file.package(), &[], message, &enums, out);
        }
    }

    let mut tree = Tree::default();
    for (package, body) in packages {
        tree.insert(&module_segments(&package), body);
    }
    let mut out = String::from(PRELUDE);
    tree.render(&mut out);
    out
}

fn known_values(e: &prost_types::EnumDescriptorProto) -> Vec<i32> {
    e.value.iter().map(|v| v.number()).collect()
}

fn collect_nested_enums(
    prefix: &str,
    message: &DescriptorProto,
    enums: &mut BTreeMap<String, Vec<i32>>,
) {
    for e in &message.enum_type {
        enums.insert(format!("{prefix}.{}", e.name()), known_values(e));
    }
    for nested in &message.nested_type {
        collect_nested_enums(&format!("{prefix}.{}", nested.name()), nested, enums);
    }
}

fn render_message(
    package: &str,
    parents: &[&str],
    message: &DescriptorProto,
    enums: &BTreeMap<String, Vec<i32>>,
    out: &mut String,
) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_message(package, &path, nested, enums, out);
    }

    let rust_type = rust_path(package, &path);
    let function = function_name(&path);
    // Fields that are plain struct fields: not members of a real oneof.
    let plain: Vec<&FieldDescriptorProto> = message
        .field
        .iter()
        .filter(|f| f.oneof_index.is_none() || f.proto3_optional())
        .collect();
    let oneofs: Vec<(usize, &str)> = message
        .oneof_decl
        .iter()
        .enumerate()
        .filter(|(index, _)| {
            message
                .field
                .iter()
                .any(|f| f.oneof_index == Some(*index as i32) && !f.proto3_optional())
        })
        .map(|(index, decl)| (index, decl.name()))
        .collect();

    let mut names = Vec::new();
    let mut strategies = Vec::new();
    for field in &plain {
        names.push(rust_field(field.name()));
        strategies.push(field_strategy(field, enums));
    }
    for (index, oneof) in &oneofs {
        names.push(rust_field(oneof));
        let enum_path = format!("{}::{}", nested_module(package, &path), upper_camel(oneof));
        let mut arms = vec!["1 => Just(None)".to_string()];
        for field in message
            .field
            .iter()
            .filter(|f| f.oneof_index == Some(*index as i32))
        {
            let variant = format!("{enum_path}::{}", upper_camel(field.name()));
            let (weight, value) = if field.r#type() == Type::Message {
                ("1", message_call(field.type_name(), "depth - 1"))
            } else {
                ("3", scalar_strategy(field, enums))
            };
            let arm = format!("{weight} => {value}.prop_map(|v| Some({variant}(v)))");
            if field.r#type() == Type::Message {
                arms.push(format!("__NESTED__{arm}"));
            } else {
                arms.push(arm);
            }
        }
        strategies.push(oneof_strategy(&arms));
    }

    let _ = writeln!(out, "/// Strategy for `{}`.", path.join("."));
    let _ = writeln!(
        out,
        "pub fn {function}(depth: u32) -> BoxedStrategy<{rust_type}> {{"
    );
    let _ = writeln!(out, "    let _ = depth;");
    if names.is_empty() {
        let _ = writeln!(out, "    Just({rust_type} {{}}).boxed()\n}}\n");
        return;
    }
    // proptest implements Strategy for tuples of up to 12; group by 10.
    let groups: Vec<(Vec<String>, Vec<String>)> = names
        .chunks(10)
        .zip(strategies.chunks(10))
        .map(|(n, s)| (n.to_vec(), s.to_vec()))
        .collect();
    let _ = writeln!(out, "    (");
    for (_, group) in &groups {
        let _ = writeln!(out, "        ({},),", group.join(", "));
    }
    let _ = writeln!(out, "    )");
    let pattern = groups
        .iter()
        .map(|(n, _)| format!("({},)", n.join(", ")))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "        .prop_map(|({pattern},)| {rust_type} {{ {} }})",
        names.join(", ")
    );
    let _ = writeln!(out, "        .boxed()\n}}\n");
}

fn oneof_strategy(arms: &[String]) -> String {
    let shallow: Vec<&str> = arms
        .iter()
        .filter(|a| !a.starts_with("__NESTED__"))
        .map(String::as_str)
        .collect();
    let all: Vec<&str> = arms
        .iter()
        .map(|a| a.trim_start_matches("__NESTED__"))
        .collect();
    if shallow.len() == all.len() {
        return format!("prop_oneof![{}].boxed()", all.join(", "));
    }
    format!(
        "if depth == 0 {{ prop_oneof![{}].boxed() }} else {{ prop_oneof![{}].boxed() }}",
        shallow.join(", "),
        all.join(", ")
    )
}

fn field_strategy(field: &FieldDescriptorProto, enums: &BTreeMap<String, Vec<i32>>) -> String {
    let repeated = field.label() == Label::Repeated;
    if field.r#type() == Type::Message {
        let call = message_call(field.type_name(), "depth - 1");
        return if repeated {
            format!(
                "if depth == 0 {{ Just(Vec::new()).boxed() }} else {{ vec({call}, 0..=2).boxed() }}"
            )
        } else {
            format!(
                "if depth == 0 {{ Just(None).boxed() }} else {{ proptest::option::weighted(0.9, {call}).boxed() }}"
            )
        };
    }
    let scalar = scalar_strategy(field, enums);
    if repeated {
        format!("vec({scalar}, 0..=3)")
    } else if field.proto3_optional() {
        format!("proptest::option::weighted(0.8, {scalar})")
    } else {
        scalar
    }
}

fn scalar_strategy(field: &FieldDescriptorProto, enums: &BTreeMap<String, Vec<i32>>) -> String {
    match field.r#type() {
        Type::Double => "double()".into(),
        Type::Float => "float()".into(),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => "proptest::arbitrary::any::<i64>()".into(),
        Type::Uint64 | Type::Fixed64 => "proptest::arbitrary::any::<u64>()".into(),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => "proptest::arbitrary::any::<i32>()".into(),
        Type::Uint32 | Type::Fixed32 => "proptest::arbitrary::any::<u32>()".into(),
        Type::Bool => "proptest::arbitrary::any::<bool>()".into(),
        Type::String => "string()".into(),
        Type::Bytes => match field.name() {
            name if name.ends_with("trace_id") => "id(16)".into(),
            name if name.ends_with("span_id") => "id(8)".into(),
            _ => "bytes()".into(),
        },
        Type::Enum => {
            let known = enums
                .get(field.type_name())
                .unwrap_or_else(|| panic!("unknown enum {}", field.type_name()));
            let list = known
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            format!("enumeration(&[{list}])")
        }
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    }
}

/// `strategy::<pkg>::<fn>(depth)` for a fully qualified message name.
fn message_call(type_name: &str, depth: &str) -> String {
    let (package, path) = split_type_name(type_name);
    let module = module_segments(package).join("::");
    format!(
        "crate::strategy::{module}::{}({depth})",
        function_name(&path)
    )
}

/// Splits `.pkg.a.b.Msg.Nested` into the package and the message path by the
/// convention that packages are lowercase and messages start uppercase.
pub(crate) fn split_type_name(type_name: &str) -> (&str, Vec<&str>) {
    let trimmed = type_name.trim_start_matches('.');
    let segments: Vec<&str> = trimmed.split('.').collect();
    let first_message = segments
        .iter()
        .position(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or_else(|| panic!("no message in type name {type_name}"));
    let package_len = segments[..first_message]
        .iter()
        .map(|s| s.len() + 1)
        .sum::<usize>();
    (
        &trimmed[..package_len.saturating_sub(1)],
        segments[first_message..].to_vec(),
    )
}

/// Module path of a package below the crate root, as `otlp-proto` re-exports it.
pub(crate) fn module_segments(package: &str) -> Vec<String> {
    let package = package
        .strip_prefix("opentelemetry.proto.")
        .unwrap_or(package);
    package.split('.').map(str::to_string).collect()
}

pub(crate) fn rust_path(package: &str, path: &[&str]) -> String {
    let module = module_segments(package).join("::");
    let mut out = format!("crate::{module}");
    for parent in &path[..path.len() - 1] {
        out.push_str("::");
        out.push_str(&snake(parent));
    }
    out.push_str("::");
    out.push_str(&upper_camel(path[path.len() - 1]));
    out
}

/// The module prost generates for a message's nested items.
pub(crate) fn nested_module(package: &str, path: &[&str]) -> String {
    let module = module_segments(package).join("::");
    let nested = path.iter().map(|p| snake(p)).collect::<Vec<_>>().join("::");
    format!("crate::{module}::{nested}")
}

fn function_name(path: &[&str]) -> String {
    path.iter().map(|p| snake(p)).collect::<Vec<_>>().join("_")
}

pub(crate) fn rust_field(name: &str) -> String {
    let name = snake(name);
    match name.as_str() {
        "type" | "ref" | "match" | "fn" | "mod" | "use" | "impl" | "loop" | "move" | "box" => {
            format!("r#{name}")
        }
        _ => name,
    }
}

pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let after_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let before_lower = i > 0
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
                && chars[i - 1].is_ascii_uppercase();
            if after_lower || before_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

pub(crate) fn upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            let first = chars.next().expect("non-empty").to_ascii_uppercase();
            std::iter::once(first).chain(chars).collect::<String>()
        })
        .collect()
}

#[derive(Default)]
struct Tree {
    body: String,
    children: BTreeMap<String, Tree>,
}

impl Tree {
    fn insert(&mut self, segments: &[String], body: String) {
        let mut node = self;
        for segment in segments {
            node = node.children.entry(segment.clone()).or_default();
        }
        node.body.push_str(&body);
    }

    fn render(&self, out: &mut String) {
        for (name, child) in &self.children {
            let _ = writeln!(out, "/// Strategies for the `{name}` package level.");
            let _ = writeln!(out, "pub mod {name} {{");
            let _ = writeln!(out, "#[allow(unused_imports)]\nuse super::*;");
            if !child.body.is_empty() {
                out.push_str(&child.body);
            }
            child.render(out);
            let _ = writeln!(out, "}}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prost() {
        assert_eq!(
            snake("ExportTraceServiceRequest"),
            "export_trace_service_request"
        );
        assert_eq!(snake("KeyValueList"), "key_value_list");
        assert_eq!(upper_camel("string_value_strindex"), "StringValueStrindex");
        assert_eq!(rust_field("type"), "r#type");
        let (package, path) = split_type_name(".opentelemetry.proto.trace.v1.Span.Event");
        assert_eq!(package, "opentelemetry.proto.trace.v1");
        assert_eq!(path, ["Span", "Event"]);
        assert_eq!(rust_path(package, &path), "crate::trace::v1::span::Event");
    }
}
