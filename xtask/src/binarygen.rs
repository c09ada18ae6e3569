//! The MessagePack and CBOR writers and readers of `otlp-codec`, generated per
//! message from the same descriptors as the types and following the same
//! mapping as the serde impls of `serdegen` (field order, names, omitted
//! defaults, value forms), but writing and reading bytes directly instead of
//! going through serde and rmp-serde or minicbor-serde.
//! One impl per message serves both formats: it is generic over the format
//! (`BinaryWriter` / `BinaryReader` in `otlp-codec/src/binary.rs`, with a
//! MessagePack and a CBOR impl), and each field name is a `Key` constant
//! holding its encoding as a map key in both formats.
//!
//! The readers give up on anything the serde path reads that they do not
//! (hex ids, numeric strings, enum names, binary strings, …): the serde path
//! then decodes.

use std::collections::BTreeSet;
use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::jsongen::assign_field;
use crate::serdegen::{json_name, proto_path};
use crate::strategies::{nested_module, rust_field, rust_path, upper_camel};

/// The full name of the one recursive message, whose reading is depth-limited.
const ANY_VALUE: &str = "opentelemetry.proto.common.v1.AnyValue";

/// The name of the `Key` constant of the field whose JSON name is `name`:
/// `startTimeUnixNano` → `START_TIME_UNIX_NANO`.
fn key(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The `Key` constant of the field whose JSON name is `name`: its whole
/// encoding (string header and name) in each format, as rmp-serde and
/// minicbor-serde write it.
fn key_const(name: &str) -> String {
    let len = name.len();
    let msgpack = match len {
        0..32 => format!("\\x{:02x}", 0xa0 | len),
        32..256 => format!("\\xd9\\x{len:02x}"),
        _ => panic!("field name {name} is too long for a one-byte string length"),
    };
    let cbor = match len {
        0..24 => format!("\\x{:02x}", 0x60 | len),
        _ => format!("\\x78\\x{len:02x}"),
    };
    format!(
        "const {}: Key = Key {{ msgpack: b\"{msgpack}{name}\", cbor: b\"{cbor}{name}\" }};",
        key(name)
    )
}

/// The JSON names of the fields of `message` and its nested messages.
fn json_names(message: &DescriptorProto, names: &mut BTreeSet<String>) {
    names.extend(message.field.iter().map(|field| json_name(field.name())));
    for nested in &message.nested_type {
        json_names(nested, names);
    }
}

/// Renders a `Key` constant per field name, then the generic writer and
/// reader impls of every message of the `opentelemetry.*` packages.
pub(crate) fn render(descriptors: &FileDescriptorSet) -> String {
    let files = || {
        descriptors
            .file
            .iter()
            .filter(|file| file.package().starts_with("opentelemetry."))
    };
    let mut names = BTreeSet::new();
    for message in files().flat_map(|file| &file.message_type) {
        json_names(message, &mut names);
    }
    let mut out = String::from("use super::*;\n");
    for name in &names {
        let _ = writeln!(out, "{}", key_const(name));
    }
    for file in files() {
        for message in &file.message_type {
            render_writer(file.package(), &[], message, &mut out);
            render_reader(file.package(), &[], message, &mut out);
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

fn render_reader(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_reader(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));
    let full_name = format!("{package}.{}", path.join("."));

    let (enter, leave) = if full_name == ANY_VALUE {
        ("r.enter_any()?;", "r.leave_any();")
    } else {
        ("", "")
    };
    if message.field.is_empty() {
        let _ = write!(
            out,
            r#"
impl ReadBinary for {rust} {{
    fn read<F: BinaryReader>(r: &mut Reader<'_, F>) -> Result<Self, Fail> {{
        for _ in 0..r.begin_map()? {{
            let key = r.key()?;
            r.skip_entry(key)?;
        }}
        r.end();
        Ok(Self::default())
    }}
}}
"#
        );
        return;
    }

    // The writers write the fields in declaration order, so the key after
    // field `i` is most likely one of the fields after it: those are tried
    // first, in order, each as its whole encoding (header and name) compared
    // at the cursor; any other key (reordered, unknown, or in an unusual
    // string form) goes through the general `key()` and `match`, with the
    // same result. Nil leaves a field as it is, and a later duplicate key
    // wins: the serde impls' rules.
    let mut expected = String::new();
    let mut names = String::new();
    let mut arms = String::new();
    for (i, field) in message.field.iter().enumerate() {
        let json = json_name(field.name());
        let guard = if i == 0 {
            String::new()
        } else {
            format!("next <= {i} && ")
        };
        let _ = writeln!(
            expected,
            "if {guard}r.eat(F::key({})) {{ break 'key {i}; }}",
            key(&json)
        );
        let _ = writeln!(names, "b\"{json}\" => {i},");
        let assign = assign_field(package, &path, message, field, &read_value(field), "r");
        let _ = writeln!(arms, "{i} => if !r.nil() {{ {assign}; }},");
    }
    // With one field, `next` is never compared.
    let allow = if message.field.len() == 1 {
        "#[allow(unused_variables, unused_assignments)]"
    } else {
        ""
    };
    let _ = write!(
        out,
        r#"
impl ReadBinary for {rust} {{
    {allow}
    fn read<F: BinaryReader>(r: &mut Reader<'_, F>) -> Result<Self, Fail> {{
        {enter}
        let mut m = Self::default();
        let mut next = 0;
        'entries: for _ in 0..r.begin_map()? {{
            let field = 'key: {{
                {expected}
                match r.key()? {{
                    {names}
                    other => {{
                        r.skip_entry(other)?;
                        continue 'entries;
                    }}
                }}
            }};
            next = field + 1;
            match field {{
                {arms}
                _ => {{}}
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
fn write_value(field: &FieldDescriptorProto, v: &str) -> String {
    match field.r#type() {
        Type::Double => format!("W::double(out, *{v})"),
        Type::Int64
        | Type::Sint64
        | Type::Sfixed64
        | Type::Int32
        | Type::Sint32
        | Type::Sfixed32
        | Type::Enum => {
            format!("W::sint(out, i64::from(*{v}))")
        }
        Type::Uint64 | Type::Fixed64 | Type::Uint32 | Type::Fixed32 => {
            format!("W::uint(out, u64::from(*{v}))")
        }
        Type::Bool => format!("W::boolean(out, *{v})"),
        Type::String => format!("W::string(out, {v})"),
        Type::Bytes => format!("W::binary(out, {v})"),
        Type::Message => format!("WriteBinary::write::<W>({v}, out)"),
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

fn render_writer(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_writer(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));

    let entry =
        |json: &str, write: &str| format!("out.extend_from_slice(W::key({})); {write};", key(json));
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
                    entry(&json_name(member.name()), &write_value(member, "v"))
                );
            }
            body.push_str("None => {} }");
            continue;
        }
        if field.label() == Label::Repeated {
            count.push(format!("usize::from(!{access}.is_empty())"));
            let write = format!(
                "W::array(out, {access}.len()); for v in &{access} {{ {}; }}",
                write_value(field, "v")
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
                entry(&json, &write_value(field, "v"))
            );
        } else {
            let present = present(field, &access);
            count.push(format!("usize::from({present})"));
            let _ = write!(
                body,
                "if {present} {{ {} }}",
                entry(&json, &write_value(field, &format!("&{access}")))
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
impl WriteBinary for {rust} {{
    fn write<W: BinaryWriter>(&self, out: &mut Vec<u8>) {{
        W::map(out, {count});
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
        assert_eq!(
            key_const("startTimeUnixNano"),
            r#"const START_TIME_UNIX_NANO: Key = Key { msgpack: b"\xb1startTimeUnixNano", cbor: b"\x71startTimeUnixNano" };"#
        );
        let long = "a".repeat(40);
        assert_eq!(
            key_const(&long),
            format!(
                r#"const {}: Key = Key {{ msgpack: b"\xd9\x28{long}", cbor: b"\x78\x28{long}" }};"#,
                long.to_uppercase()
            )
        );
    }
}
