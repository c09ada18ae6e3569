//! serde impls for every OTLP message, generated for `otlp-codec` from the same
//! descriptors as the types, so that OTLP/JSON, MessagePack and CBOR cover a
//! field the moment it is added to `proto/`.
//!
//! `otlp-codec` cannot implement serde's traits for `otlp-proto`'s types (orphan
//! rule), so each message `T` gets `impl Serialize for Ser<'_, T>` and
//! `impl Deserialize for De<T>`; the field helpers they call (`I64`, `Hex`,
//! `Base64`, `value`, `Repeated`, …) are hand-written in `otlp-codec/src/serde.rs`.
//! Field names are the proto3 JSON names (lowerCamelCase); ids are the `bytes`
//! fields named `trace_id`, `span_id` or `parent_span_id`, as the OTLP spec says.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::strategies::{nested_module, rust_field, rust_path, upper_camel};

/// The full name of the one recursive message, whose decoding is depth-limited.
const ANY_VALUE: &str = "opentelemetry.proto.common.v1.AnyValue";

/// Renders the impls for every message of the `opentelemetry.*` packages.
pub(crate) fn render(descriptors: &FileDescriptorSet) -> String {
    let mut out = String::from(
        "use super::*;\nuse serde::de::Error as _;\nuse serde::ser::SerializeMap as _;\n",
    );
    for file in &descriptors.file {
        if !file.package().starts_with("opentelemetry.") {
            continue;
        }
        for message in &file.message_type {
            render_message(file.package(), &[], message, &mut out);
        }
        for e in &file.enum_type {
            render_enum(&format!(".{}.{}", file.package(), e.name()), e, &mut out);
        }
        for message in &file.message_type {
            render_nested_enums(
                &format!(".{}.{}", file.package(), message.name()),
                message,
                &mut out,
            );
        }
    }
    out
}

/// The marker type carrying an enum's value names, from its full name.
pub(crate) fn enum_marker(type_name: &str) -> String {
    format!(
        "Enum_{}",
        type_name.trim_start_matches('.').replace('.', "_")
    )
}

fn render_nested_enums(prefix: &str, message: &DescriptorProto, out: &mut String) {
    for e in &message.enum_type {
        render_enum(&format!("{prefix}.{}", e.name()), e, out);
    }
    for nested in &message.nested_type {
        render_nested_enums(&format!("{prefix}.{}", nested.name()), nested, out);
    }
}

fn render_enum(full_name: &str, e: &prost_types::EnumDescriptorProto, out: &mut String) {
    let marker = enum_marker(full_name);
    let names = e
        .value
        .iter()
        .map(|v| format!("(\"{}\", {})", v.name(), v.number()))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        out,
        "\npub(crate) struct {marker};\nimpl EnumNames for {marker} {{ const NAMES: &'static [(&'static str, i32)] = &[{names}]; }}\n"
    );
}

/// Renders an expression from the Rust expression of a field's value.
type Render = fn(&str) -> String;

/// How a field's value is written and read.
struct Kind {
    /// Wraps a reference `v` to the value for serialization.
    ser: Render,
    /// The type read from the wire; `.into_inner()` yields the field's value.
    de: String,
    /// The field's default, to omit it on output (`None` for messages).
    is_default: Option<Render>,
}

fn kind(field: &FieldDescriptorProto) -> Kind {
    let (ser, de, is_default): (Render, String, Render) = match field.r#type() {
        Type::Double => (
            |v| format!("F64(*{v})"),
            "F64".into(),
            |v| format!("{v} != 0.0"),
        ),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => (
            |v| format!("I64(*{v})"),
            "Int<i64>".into(),
            |v| format!("{v} != 0"),
        ),
        Type::Uint64 | Type::Fixed64 => (
            |v| format!("U64(*{v})"),
            "Int<u64>".into(),
            |v| format!("{v} != 0"),
        ),
        Type::Enum => {
            return Kind {
                ser: |v| v.to_string(),
                de: format!("Enum<{}>", enum_marker(field.type_name())),
                is_default: Some(|v| format!("{v} != 0")),
            };
        }
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => (
            |v| v.to_string(),
            "Int<i32>".into(),
            |v| format!("{v} != 0"),
        ),
        Type::Uint32 | Type::Fixed32 => (
            |v| v.to_string(),
            "Int<u32>".into(),
            |v| format!("{v} != 0"),
        ),
        Type::Bool => (|v| v.to_string(), "Plain<bool>".into(), |v| v.to_string()),
        Type::String => (
            |v| v.to_string(),
            "Plain<::otlp_proto::ByteString>".into(),
            |v| format!("!{v}.is_empty()"),
        ),
        Type::Bytes if is_id(field) => (
            |v| format!("Hex({v})"),
            "HexBytes".into(),
            |v| format!("!{v}.is_empty()"),
        ),
        Type::Bytes => (
            |v| format!("Base64({v})"),
            "Base64Bytes".into(),
            |v| format!("!{v}.is_empty()"),
        ),
        Type::Message => {
            let (package, path) = crate::strategies::split_type_name(field.type_name());
            let rust = proto_path(&rust_path(package, &path));
            return Kind {
                ser: |v| format!("Ser({v})"),
                de: format!("De<{rust}>"),
                is_default: None,
            };
        }
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    };
    Kind {
        ser,
        de,
        is_default: Some(is_default),
    }
}

pub(crate) fn is_id(field: &FieldDescriptorProto) -> bool {
    matches!(field.name(), "trace_id" | "span_id" | "parent_span_id")
}

/// `crate::trace::v1::Span` as `otlp-codec` names it.
pub(crate) fn proto_path(path: &str) -> String {
    format!("otlp_proto::{}", path.trim_start_matches("crate::"))
}

/// The proto3 JSON name: lowerCamelCase of the field name.
pub(crate) fn json_name(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn render_message(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_message(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));
    let full_name = format!("{package}.{}", path.join("."));

    // Every wire field in declaration order, with its JSON name; oneof members
    // carry the Rust path of their oneof enum.
    let mut names = Vec::new();
    let mut count = Vec::new();
    let mut ser = String::new();
    let mut de_arms = String::new();
    let mut oneofs_done = Vec::new();
    for field in &message.field {
        let json = json_name(field.name());
        let index = names.len();
        names.push(format!("\"{json}\""));
        let member = rust_field(field.name());
        let kind = kind(field);
        let repeated = field.label() == Label::Repeated;
        let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());

        if let Some(oneof) = real_oneof {
            let decl = message.oneof_decl[oneof as usize].name();
            let oneof_field = rust_field(decl);
            let variant = format!(
                "{}::{}::{}",
                proto_path(&nested_module(package, &path)),
                upper_camel(decl),
                upper_camel(field.name())
            );
            if !oneofs_done.contains(&oneof) {
                oneofs_done.push(oneof);
                count.push(format!("usize::from(m.{oneof_field}.is_some())"));
                let _ = writeln!(ser, "match &m.{oneof_field} {{");
                for member in message
                    .field
                    .iter()
                    .filter(|f| f.oneof_index == Some(oneof) && !f.proto3_optional())
                {
                    let member_variant = format!(
                        "{}::{}::{}",
                        proto_path(&nested_module(package, &path)),
                        upper_camel(decl),
                        upper_camel(member.name())
                    );
                    let _ = writeln!(
                        ser,
                        "Some({member_variant}(v)) => map.serialize_entry(\"{}\", &{})?,",
                        json_name(member.name()),
                        (self::kind(member).ser)("v")
                    );
                }
                let _ = writeln!(ser, "None => {{}}\n}}");
            }
            let _ = writeln!(
                de_arms,
                "{index} => if let Some(v) = value::<_, {}>(&mut map, \"{json}\")? {{ m.{oneof_field} = Some({variant}(v.into_inner())); }}",
                kind.de
            );
            continue;
        }

        let access = format!("m.{member}");
        if repeated {
            count.push(format!("usize::from(!{access}.is_empty())"));
            let _ = writeln!(
                ser,
                "if !{access}.is_empty() {{ map.serialize_entry(\"{json}\", &many(&{access}, |v| {}))?; }}",
                (kind.ser)("v")
            );
            let _ = writeln!(
                de_arms,
                "{index} => if let Some(v) = value::<_, Repeated<{}>>(&mut map, \"{json}\")? {{ {access} = v.into_inner(); }}",
                kind.de
            );
        } else if field.proto3_optional() || kind.is_default.is_none() {
            count.push(format!("usize::from({access}.is_some())"));
            let _ = writeln!(
                ser,
                "if let Some(v) = &{access} {{ map.serialize_entry(\"{json}\", &{})?; }}",
                (kind.ser)("v")
            );
            let _ = writeln!(
                de_arms,
                "{index} => if let Some(v) = value::<_, {}>(&mut map, \"{json}\")? {{ {access} = Some(v.into_inner()); }}",
                kind.de
            );
        } else {
            let is_default = kind.is_default.expect("checked above");
            let present = is_default(&access);
            count.push(format!("usize::from({present})"));
            let _ = writeln!(
                ser,
                "if {present} {{ map.serialize_entry(\"{json}\", &{})?; }}",
                (kind.ser)(&format!("&{access}"))
            );
            let _ = writeln!(
                de_arms,
                "{index} => if let Some(v) = value::<_, {}>(&mut map, \"{json}\")? {{ {access} = v.into_inner(); }}",
                kind.de
            );
        }
    }

    let count = if count.is_empty() {
        "0".to_string()
    } else {
        count.join(" + ")
    };
    let guard = if full_name == ANY_VALUE {
        "let _depth = DepthGuard::enter().map_err(D::Error::custom)?;\n"
    } else {
        ""
    };
    let binding = if message.field.is_empty() { "_m" } else { "m" };
    let mutable = if message.field.is_empty() { "" } else { "mut " };
    let _ = write!(
        out,
        r#"
impl serde::Serialize for Ser<'_, {rust}> {{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{
        let {binding} = self.0;
        let mut map = serializer.serialize_map(Some({count}))?;
        {ser}
        map.end()
    }}
}}

impl<'de> serde::Deserialize<'de> for De<{rust}> {{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {{
            type Value = De<{rust}>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{
                f.write_str("a {full_name} object")
            }}
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {{
                let {mutable}m = {rust}::default();
                while let Some(key) = map.next_key_seed(Key(&[{names}]))? {{
                    match key {{
                        {de_arms}
                        _ => {{ map.next_value::<serde::de::IgnoredAny>()?; }}
                    }}
                }}
                Ok(De(m))
            }}
        }}
        {guard}deserializer.deserialize_map(Fields)
    }}
}}
"#,
        names = names.join(", "),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_lower_camel_case() {
        assert_eq!(json_name("trace_id"), "traceId");
        assert_eq!(
            json_name("dropped_attributes_count"),
            "droppedAttributesCount"
        );
        assert_eq!(json_name("name"), "name");
    }

    #[test]
    fn ids_are_the_trace_and_span_id_fields() {
        let field = |name: &str| FieldDescriptorProto {
            name: Some(name.into()),
            ..Default::default()
        };
        assert!(is_id(&field("trace_id")));
        assert!(is_id(&field("parent_span_id")));
        assert!(!is_id(&field("bytes_value")));
    }
}
