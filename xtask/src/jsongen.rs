//! The OTLP/JSON writer of `otlp-codec`, generated per message from the same
//! descriptors as the types and following the same mapping as the serde impls
//! of `serdegen` (field order, names, omitted defaults, value forms), but
//! writing bytes directly instead of going through serde's `Serializer`.
//! `otlp-codec/src/json.rs` holds the value writers it calls.
//!
//! Each message also gets a reader (`impl ReadJson`) that matches keys as
//! bytes and reads values with `json.rs`'s `Parser`, following the serde
//! impls' rules; it gives up on anything unusual, and the serde path decodes.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::serdegen::{enum_marker, is_id, json_name, proto_path};

/// The full name of the one recursive message, whose reading is depth-limited.
const ANY_VALUE: &str = "opentelemetry.proto.common.v1.AnyValue";
use crate::strategies::{nested_module, rust_field, rust_path, upper_camel};

/// Renders `impl WriteJson` for every message of the `opentelemetry.*` packages.
pub(crate) fn render(descriptors: &FileDescriptorSet) -> String {
    let mut out = String::from("use super::*;\n");
    for file in &descriptors.file {
        if !file.package().starts_with("opentelemetry.") {
            continue;
        }
        for message in &file.message_type {
            render_message(file.package(), &[], message, &mut out);
            render_reader(file.package(), &[], message, &mut out);
        }
    }
    out
}

/// The expression reading one value of `field`'s type with the parser `p`.
fn read_value(field: &FieldDescriptorProto) -> String {
    match field.r#type() {
        Type::Double => "p.double()?".into(),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => "p.int::<i64>()?".into(),
        Type::Uint64 | Type::Fixed64 => "p.int::<u64>()?".into(),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => "p.int::<i32>()?".into(),
        Type::Uint32 | Type::Fixed32 => "p.int::<u32>()?".into(),
        Type::Enum => format!(
            "p.enumeration::<crate::serde_impl::generated::{}>()?",
            enum_marker(field.type_name())
        ),
        Type::Bool => "p.boolean()?".into(),
        Type::String => "p.string()?".into(),
        Type::Bytes if is_id(field) => "p.hex()?".into(),
        Type::Bytes => "p.base64()?".into(),
        Type::Message => "p.message()?".into(),
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    }
}

/// The statement a generated reader runs for `field` of `message` (at
/// `path` in `package`), given the expression `read` that reads one value
/// with the reader named `reader`: into its oneof, pushed for each element
/// of an array, wrapped in `Some` when optional, or stored as it is. Shared
/// by the OTLP/JSON, MessagePack and CBOR readers.
pub(crate) fn assign_field(
    package: &str,
    path: &[&str],
    message: &DescriptorProto,
    field: &FieldDescriptorProto,
    read: &str,
    reader: &str,
) -> String {
    let access = format!("m.{}", rust_field(field.name()));
    let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());
    if let Some(oneof) = real_oneof {
        let decl = message.oneof_decl[oneof as usize].name();
        let variant = format!(
            "{}::{}::{}",
            proto_path(&nested_module(package, path)),
            upper_camel(decl),
            upper_camel(field.name())
        );
        format!("m.{} = Some({variant}({read}))", rust_field(decl))
    } else if field.label() == Label::Repeated {
        format!("{access} = {reader}.array(|{reader}| Ok({read}))?")
    } else if field.proto3_optional() || field.r#type() == Type::Message {
        format!("{access} = Some({read})")
    } else {
        format!("{access} = {read}")
    }
}

fn render_reader(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_reader(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));
    let full_name = format!("{package}.{}", path.join("."));

    // Each field is numbered by its place in the declaration; `next` is the
    // number of the field after the last one read. Writers (ours, the
    // Collector, the SDKs) write fields in declaration order, so the key of
    // field `next` is tried first as the exact bytes `"key":`; anything else
    // goes through `key()` and the match on the key. `null` leaves a field as
    // it is, and a later duplicate key wins: the serde impls' rules.
    let unknown = message.field.len();
    let mut expected = String::new();
    let mut numbers = String::new();
    let mut arms = String::new();
    for (number, field) in message.field.iter().enumerate() {
        let json = json_name(field.name());
        let assign = assign_field(package, &path, message, field, &read_value(field), "p");
        let _ = writeln!(
            expected,
            "{number} if p.eat_key(b\"\\\"{json}\\\":\") => {number},"
        );
        let _ = writeln!(numbers, "b\"{json}\" => {number},");
        let _ = writeln!(arms, "{number} => if !p.null() {{ {assign}; }},");
    }
    let (enter, leave) = if full_name == ANY_VALUE {
        ("p.enter_any()?;", "p.leave_any();")
    } else {
        ("", "")
    };
    let _ = write!(
        out,
        r#"
impl ReadJson for {rust} {{
    #[allow(unused_mut)]
    fn read_json(p: &mut Parser<'_>) -> Result<Self, Fail> {{
        {enter}
        let mut m = Self::default();
        if p.begin_object()? {{
            let mut next = 0;
            loop {{
                let field = match next {{
                    {expected}
                    _ => match p.key()? {{
                        {numbers}
                        _ => {unknown},
                    }},
                }};
                match field {{
                    {arms}
                    _ => p.skip_value()?,
                }}
                next = field + 1;
                if !p.next_member()? {{
                    break;
                }}
            }}
        }}
        {leave}
        Ok(m)
    }}
}}
"#
    );
}

/// The statement writing one value `v` (a reference) of `field`'s type.
fn write_value(field: &FieldDescriptorProto, v: &str) -> String {
    match field.r#type() {
        Type::Double | Type::Float => format!("double(out, f64::from(*{v}))"),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => format!("quoted_int(out, *{v})"),
        Type::Uint64 | Type::Fixed64 => format!("quoted_int(out, *{v})"),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 | Type::Uint32 | Type::Fixed32 | Type::Enum => {
            format!("int(out, *{v})")
        }
        Type::Bool => format!("boolean(out, *{v})"),
        Type::String => format!("string(out, {v})"),
        Type::Bytes if is_id(field) => format!("hex(out, {v})"),
        Type::Bytes => format!("base64(out, {v})"),
        Type::Message => format!("WriteJson::write_json({v}, out)"),
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

fn render_message(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_message(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));

    // Each entry writes the separator held in `sep` (`{` first, `,` after).
    let entry = |json: &str, write: &str| {
        format!("out.push(sep); sep = b','; out.extend_from_slice(b\"\\\"{json}\\\":\"); {write};")
    };
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
                    entry(&json_name(member.name()), &write_value(member, "v"))
                );
            }
            body.push_str("None => {} }");
            continue;
        }
        if field.label() == Label::Repeated {
            let write = format!(
                "let mut item = b'['; for v in &{access} {{ out.push(item); item = b','; {}; }} out.push(b']')",
                write_value(field, "v")
            );
            let _ = write!(
                body,
                "if !{access}.is_empty() {{ {} }}",
                entry(&json, &write)
            );
        } else if field.proto3_optional() || field.r#type() == Type::Message {
            let _ = write!(
                body,
                "if let Some(v) = &{access} {{ {} }}",
                entry(&json, &write_value(field, "v"))
            );
        } else {
            let _ = write!(
                body,
                "if {} {{ {} }}",
                present(field, &access),
                entry(&json, &write_value(field, &format!("&{access}")))
            );
        }
    }
    let _ = write!(
        out,
        r#"
impl WriteJson for {rust} {{
    #[allow(unused_assignments)]
    fn write_json(&self, out: &mut Vec<u8>) {{
        let mut sep = b'{{';
        {body}
        if sep == b'{{' {{ out.push(b'{{'); }}
        out.push(b'}}');
    }}
}}
"#
    );
}
