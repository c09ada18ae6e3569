//! The MessagePack and CBOR writers and readers of `otlp-codec`, generated per
//! message from the same descriptors as the types and following the same
//! mapping as the serde impls of `serdegen` (field order, names, omitted
//! defaults, value forms), but writing and reading bytes directly instead of
//! going through serde and rmp-serde or minicbor-serde.
//! `otlp-codec/src/msgpack.rs` and `src/cbor.rs` hold the value writers and
//! the `Reader` they call; both readers have the same methods, so the reading
//! code differs only in the trait it implements.
//!
//! The readers give up on anything the serde path reads that they do not
//! (hex ids, numeric strings, enum names, binary strings, …): the serde path
//! then decodes.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::jsongen::assign_field;
use crate::serdegen::{json_name, proto_path};
use crate::strategies::{nested_module, rust_field, rust_path, upper_camel};

/// The full name of the one recursive message, whose reading is depth-limited.
const ANY_VALUE: &str = "opentelemetry.proto.common.v1.AnyValue";

/// A binary encoding with OTLP/JSON's field names.
#[derive(Clone, Copy)]
pub(crate) enum Format {
    MessagePack,
    Cbor,
}

impl Format {
    /// The name of the writer trait and its method.
    fn writer(self) -> (&'static str, &'static str) {
        match self {
            Self::MessagePack => ("WriteMsgpack", "write_msgpack"),
            Self::Cbor => ("WriteCbor", "write_cbor"),
        }
    }

    /// The name of the reader trait and its method.
    fn reader(self) -> (&'static str, &'static str) {
        match self {
            Self::MessagePack => ("ReadMsgpack", "read_msgpack"),
            Self::Cbor => ("ReadCbor", "read_cbor"),
        }
    }

    /// A map key as the byte string literal of its whole encoding (string
    /// header and name), as rmp-serde or minicbor-serde writes it.
    fn key_literal(self, name: &str) -> String {
        let len = name.len();
        let header = match (self, len) {
            (Self::MessagePack, 0..32) => format!("\\x{:02x}", 0xa0 | len),
            (Self::MessagePack, 32..256) => format!("\\xd9\\x{len:02x}"),
            (Self::Cbor, 0..24) => format!("\\x{:02x}", 0x60 | len),
            (Self::Cbor, 24..256) => format!("\\x78\\x{len:02x}"),
            _ => panic!("field name {name} is too long for a one-byte string length"),
        };
        format!("b\"{header}{name}\"")
    }
}

/// Renders the writer and reader impls of `format` for every message of the
/// `opentelemetry.*` packages.
pub(crate) fn render(descriptors: &FileDescriptorSet, format: Format) -> String {
    let mut out = String::from("use super::*;\n");
    for file in &descriptors.file {
        if !file.package().starts_with("opentelemetry.") {
            continue;
        }
        for message in &file.message_type {
            render_writer(file.package(), &[], message, format, &mut out);
            render_reader(file.package(), &[], message, format, &mut out);
        }
    }
    out
}

/// The expression reading one value of `field`'s type with the reader `r`.
fn read_value(field: &FieldDescriptorProto) -> String {
    match field.r#type() {
        Type::Double => "r.double()?".into(),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => "r.int::<i64>()?".into(),
        Type::Uint64 | Type::Fixed64 => "r.int::<u64>()?".into(),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 | Type::Enum => "r.int::<i32>()?".into(),
        Type::Uint32 | Type::Fixed32 => "r.int::<u32>()?".into(),
        Type::Bool => "r.boolean()?".into(),
        Type::String => "r.string()?".into(),
        Type::Bytes => "r.bytes()?".into(),
        Type::Message => "r.message()?".into(),
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    }
}

fn render_reader(
    package: &str,
    parents: &[&str],
    message: &DescriptorProto,
    format: Format,
    out: &mut String,
) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_reader(package, &path, nested, format, out);
    }
    let (read_trait, read_fn) = format.reader();
    let rust = proto_path(&rust_path(package, &path));
    let full_name = format!("{package}.{}", path.join("."));

    // Nil leaves a field as it is, and a later duplicate key wins: the serde
    // impls' rules.
    let mut arms = String::new();
    for field in &message.field {
        let json = json_name(field.name());
        let assign = assign_field(package, &path, message, field, &read_value(field), "r");
        let _ = writeln!(arms, "b\"{json}\" => if !r.nil() {{ {assign}; }},");
    }
    let (enter, leave) = if full_name == ANY_VALUE {
        ("r.enter_any()?;", "r.leave_any();")
    } else {
        ("", "")
    };
    let _ = write!(
        out,
        r#"
impl {read_trait} for {rust} {{
    #[allow(unused_mut)]
    fn {read_fn}(r: &mut Reader<'_>) -> Result<Self, Fail> {{
        {enter}
        let mut m = Self::default();
        for _ in 0..r.begin_map()? {{
            match r.key()? {{
                {arms}
                other => r.skip_entry(other)?,
            }}
        }}
        r.end();
        {leave}
        Ok(m)
    }}
}}
"#
    );
}

/// The statement writing one value `v` (a reference) of `field`'s type.
fn write_value(field: &FieldDescriptorProto, v: &str, format: Format) -> String {
    match field.r#type() {
        Type::Double => format!("double(out, *{v})"),
        Type::Int64
        | Type::Sint64
        | Type::Sfixed64
        | Type::Int32
        | Type::Sint32
        | Type::Sfixed32
        | Type::Enum => {
            format!("sint(out, i64::from(*{v}))")
        }
        Type::Uint64 | Type::Fixed64 | Type::Uint32 | Type::Fixed32 => {
            format!("uint(out, u64::from(*{v}))")
        }
        Type::Bool => format!("boolean(out, *{v})"),
        Type::String => format!("string(out, {v})"),
        Type::Bytes => format!("binary(out, {v})"),
        Type::Message => {
            let (write_trait, write_fn) = format.writer();
            format!("{write_trait}::{write_fn}({v}, out)")
        }
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    }
}

/// Whether a singular field at `access` differs from its default.
fn present(field: &FieldDescriptorProto, access: &str) -> String {
    match field.r#type() {
        Type::Double | Type::Float => format!("{access} != 0.0"),
        Type::Bool => access.to_string(),
        Type::String | Type::Bytes => format!("!{access}.is_empty()"),
        _ => format!("{access} != 0"),
    }
}

fn render_writer(
    package: &str,
    parents: &[&str],
    message: &DescriptorProto,
    format: Format,
    out: &mut String,
) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_writer(package, &path, nested, format, out);
    }
    let (write_trait, write_fn) = format.writer();
    let rust = proto_path(&rust_path(package, &path));

    let entry = |json: &str, write: &str| {
        format!(
            "out.extend_from_slice({}); {write};",
            format.key_literal(json)
        )
    };
    // The map header counts the entries first, as the serde impls do.
    let mut count = Vec::new();
    let mut body = String::new();
    let mut oneofs_done = Vec::new();
    for field in &message.field {
        let json = json_name(field.name());
        let access = format!("self.{}", rust_field(field.name()));
        let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());
        if let Some(oneof) = real_oneof {
            if oneofs_done.contains(&oneof) {
                continue;
            }
            oneofs_done.push(oneof);
            let decl = message.oneof_decl[oneof as usize].name();
            count.push(format!("usize::from(self.{}.is_some())", rust_field(decl)));
            let _ = write!(body, "match &self.{} {{", rust_field(decl));
            for member in message
                .field
                .iter()
                .filter(|f| f.oneof_index == Some(oneof) && !f.proto3_optional())
            {
                let variant = format!(
                    "{}::{}::{}",
                    proto_path(&nested_module(package, &path)),
                    upper_camel(decl),
                    upper_camel(member.name())
                );
                let _ = write!(
                    body,
                    "Some({variant}(v)) => {{ {} }}",
                    entry(&json_name(member.name()), &write_value(member, "v", format))
                );
            }
            body.push_str("None => {} }");
            continue;
        }
        if field.label() == Label::Repeated {
            count.push(format!("usize::from(!{access}.is_empty())"));
            let write = format!(
                "array(out, {access}.len()); for v in &{access} {{ {}; }}",
                write_value(field, "v", format)
            );
            let _ = write!(
                body,
                "if !{access}.is_empty() {{ {} }}",
                entry(&json, &write)
            );
        } else if field.proto3_optional() || field.r#type() == Type::Message {
            count.push(format!("usize::from({access}.is_some())"));
            let _ = write!(
                body,
                "if let Some(v) = &{access} {{ {} }}",
                entry(&json, &write_value(field, "v", format))
            );
        } else {
            let present = present(field, &access);
            count.push(format!("usize::from({present})"));
            let _ = write!(
                body,
                "if {present} {{ {} }}",
                entry(&json, &write_value(field, &format!("&{access}"), format))
            );
        }
    }
    let count = if count.is_empty() {
        "0".to_string()
    } else {
        count.join(" + ")
    };
    let _ = write!(
        out,
        r#"
impl {write_trait} for {rust} {{
    fn {write_fn}(&self, out: &mut Vec<u8>) {{
        map(out, {count});
        {body}
    }}
}}
"#
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_string_header() {
        assert_eq!(Format::MessagePack.key_literal("name"), r#"b"\xa4name""#);
        assert_eq!(Format::Cbor.key_literal("name"), r#"b"\x64name""#);
        let long = "a".repeat(40);
        assert_eq!(
            Format::MessagePack.key_literal(&long),
            format!(r#"b"\xd9\x28{long}""#)
        );
        assert_eq!(
            Format::Cbor.key_literal(&long),
            format!(r#"b"\x78\x28{long}""#)
        );
    }
}
