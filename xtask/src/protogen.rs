//! The protobuf decoder of `otlp-codec`, specialised per OTLP message and
//! generated from the same descriptors as the types, so that a field added to
//! `proto/` is decoded the moment it is generated.
//!
//! Each message gets `impl Decode for T` whose `merge` matches whole keys
//! (`tag << 3 | wire type`) and reads each field with the helpers of
//! `otlp-codec/src/protobuf.rs` (`Reader`), following prost's merge rules so
//! that both decoders build the same value; anything unexpected goes to
//! `Reader::skip`, which skips unknown fields and fails on the rest.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::serdegen::proto_path;
use crate::strategies::{nested_module, rust_field, rust_path, upper_camel};

/// Renders the impls for every message of the `opentelemetry.*` packages.
pub(crate) fn render(descriptors: &FileDescriptorSet) -> String {
    let mut out = String::from("use super::{Decode, Fail, Reader, zigzag32, zigzag64};\n");
    for file in &descriptors.file {
        if !file.package().starts_with("opentelemetry.") {
            continue;
        }
        for message in &file.message_type {
            render_message(file.package(), &[], message, &mut out);
        }
    }
    out
}

/// The protobuf wire type a field's values are written with.
fn wire_type(field: &FieldDescriptorProto) -> u32 {
    match field.r#type() {
        Type::Int32
        | Type::Int64
        | Type::Uint32
        | Type::Uint64
        | Type::Sint32
        | Type::Sint64
        | Type::Bool
        | Type::Enum => 0,
        Type::Fixed64 | Type::Sfixed64 | Type::Double => 1,
        Type::Fixed32 | Type::Sfixed32 | Type::Float => 5,
        Type::String | Type::Bytes | Type::Message => 2,
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    }
}

/// The expression that reads one scalar value of `field`'s type, given the
/// raw varint, 64-bit or 32-bit word `raw` (prost's conversions).
fn convert(field: &FieldDescriptorProto, raw: &str) -> String {
    match field.r#type() {
        Type::Int32 | Type::Enum => format!("{raw} as i32"),
        Type::Int64 => format!("{raw} as i64"),
        Type::Uint32 => format!("{raw} as u32"),
        Type::Uint64 | Type::Fixed64 | Type::Fixed32 => raw.to_string(),
        Type::Sint32 => format!("zigzag32({raw})"),
        Type::Sint64 => format!("zigzag64({raw})"),
        Type::Bool => format!("{raw} != 0"),
        Type::Sfixed64 => format!("{raw} as i64"),
        Type::Sfixed32 => format!("{raw} as i32"),
        Type::Double => format!("f64::from_bits({raw})"),
        Type::Float => format!("f32::from_bits({raw})"),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The reader call that yields one raw scalar of wire type `wire`.
fn raw_read(wire: u32) -> &'static str {
    match wire {
        0 => "r.varint()?",
        1 => "r.fixed64(end)?",
        5 => "r.fixed32(end)?",
        _ => unreachable!("length-delimited fields are not scalars"),
    }
}

/// A statement that merges one value of `field` into the place `place`
/// (an lvalue of the field's element type).
fn merge_into(field: &FieldDescriptorProto, place: &str) -> String {
    match field.r#type() {
        Type::String => format!("r.string(&mut {place}, end)?"),
        Type::Bytes => format!("r.bytes(&mut {place}, end)?"),
        Type::Message => format!("r.message(&mut {place}, end, depth)?"),
        _ => format!("{place} = {}", convert(field, raw_read(wire_type(field)))),
    }
}

fn render_message(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_message(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));

    let mut arms = String::new();
    let mut known = Vec::new();
    for field in &message.field {
        let number = u32::try_from(field.number()).expect("field numbers are positive");
        known.push(number.to_string());
        let wire = wire_type(field);
        let key = number << 3 | wire;
        let member = rust_field(field.name());
        let repeated = field.label() == Label::Repeated;
        let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());

        if let Some(oneof) = real_oneof {
            let decl = message.oneof_decl[oneof as usize].name();
            let variant = format!(
                "{}::{}::{}",
                proto_path(&nested_module(package, &path)),
                upper_camel(decl),
                upper_camel(field.name())
            );
            let oneof_field = rust_field(decl);
            let arm = match field.r#type() {
                // prost merges a message into the variant the oneof holds.
                Type::Message => format!(
                    "if let Some({variant}(v)) = &mut self.{oneof_field} {{ {} ; }} else {{ let mut v = Default::default(); {}; self.{oneof_field} = Some({variant}(v)); }}",
                    merge_into(field, "*v"),
                    merge_into(field, "v"),
                ),
                // Any other value replaces whatever the oneof holds.
                Type::String => format!("self.{oneof_field} = Some({variant}(r.new_string(end)?))"),
                Type::Bytes => format!("self.{oneof_field} = Some({variant}(r.new_bytes(end)?))"),
                _ => format!(
                    "self.{oneof_field} = Some({variant}({}))",
                    convert(field, raw_read(wire))
                ),
            };
            let _ = writeln!(arms, "{key} => {arm},");
            continue;
        }

        let access = format!("self.{member}");
        if repeated {
            match field.r#type() {
                Type::Message => {
                    let _ = writeln!(
                        arms,
                        "{key} => r.repeated_message(&mut {access}, {key}, end, depth)?,"
                    );
                }
                Type::String => {
                    let _ = writeln!(arms, "{key} => {access}.push(r.new_string(end)?),");
                }
                Type::Bytes => {
                    let _ = writeln!(arms, "{key} => {access}.push(r.new_bytes(end)?),");
                }
                _ => {
                    // Packed (proto3's default) and unpacked are both accepted.
                    let packed = number << 3 | 2;
                    let reader = match wire {
                        0 => "packed_varint",
                        1 => "packed_fixed64",
                        _ => "packed_fixed32",
                    };
                    let _ = writeln!(
                        arms,
                        "{key} => {access}.push({}),\n{packed} => r.{reader}(&mut {access}, end, |raw| {})?,",
                        convert(field, raw_read(wire)),
                        convert(field, "raw"),
                    );
                }
            }
        } else if field.proto3_optional() || field.r#type() == Type::Message {
            let _ = writeln!(
                arms,
                "{key} => {{ let v = {access}.get_or_insert_with(Default::default); {}; }},",
                merge_into(field, "*v")
            );
        } else {
            let _ = writeln!(arms, "{key} => {},", merge_into(field, &access));
        }
    }

    let (binding, body) = if message.field.is_empty() {
        (
            "_depth",
            "let key = r.key()?; r.skip(key, end, &[])?;".to_string(),
        )
    } else {
        (
            "depth",
            format!(
                "match r.key()? {{ {arms} key => r.skip(key, end, &[{}])?, }}",
                known.join(", ")
            ),
        )
    };
    let _ = write!(
        out,
        r#"
impl Decode for {rust} {{
    #[allow(unused_variables)]
    fn merge(&mut self, r: &mut Reader<'_>, end: usize, {binding}: u32) -> Result<(), Fail> {{
        while r.more(end) {{
            {body}
        }}
        r.finish(end)
    }}
}}
"#
    );
}

/// The raw varint (`u64`) of a varint-typed value `v`, as prost writes it.
fn varint_raw(field: &FieldDescriptorProto, v: &str) -> String {
    match field.r#type() {
        // Negative `int32`s are sign-extended to ten bytes, as protobuf says.
        Type::Int32 | Type::Enum | Type::Int64 => format!("{v} as u64"),
        Type::Uint32 | Type::Bool => format!("u64::from({v})"),
        Type::Uint64 => v.to_string(),
        Type::Sint32 => format!("((({v}) << 1) ^ (({v}) >> 31)) as u32 as u64"),
        Type::Sint64 => format!("((({v}) << 1) ^ (({v}) >> 63)) as u64"),
        other => panic!("not a varint: {other:?}"),
    }
}

/// The length of a scalar value `v` (not its key) and the statement writing it.
fn scalar(field: &FieldDescriptorProto, v: &str) -> (String, String) {
    match wire_type(field) {
        0 => {
            let raw = varint_raw(field, v);
            (format!("varint_len({raw})"), format!("w.varint({raw})"))
        }
        1 => {
            let raw = match field.r#type() {
                Type::Double => format!("({v}).to_bits()"),
                Type::Sfixed64 => format!("{v} as u64"),
                _ => v.to_string(),
            };
            ("8".into(), format!("w.fixed64({raw})"))
        }
        5 => {
            let raw = match field.r#type() {
                Type::Float => format!("({v}).to_bits()"),
                Type::Sfixed32 => format!("{v} as u32"),
                _ => v.to_string(),
            };
            ("4".into(), format!("w.fixed32({raw})"))
        }
        _ => panic!("not a scalar: {}", field.name()),
    }
}

/// The key of `field` as a varint, and its encoded length.
fn key_of(field: &FieldDescriptorProto, wire: u32) -> (u64, usize) {
    let key = u64::from((field.number() as u32) << 3 | wire);
    (
        key,
        if key < 0x80 {
            1
        } else if key < 0x4000 {
            2
        } else {
            3
        },
    )
}

/// Statements measuring and writing one value `v` of `field` (a reference for
/// strings, bytes and messages, a value otherwise), key included.
fn encode_value(field: &FieldDescriptorProto, v: &str) -> (String, String) {
    let (key, key_len) = key_of(field, wire_type(field));
    match field.r#type() {
        Type::String | Type::Bytes => (
            format!("n += {key_len} + varint_len({v}.len() as u64) + {v}.len();"),
            format!("w.varint({key}); w.varint({v}.len() as u64); w.bytes({v}.as_ref());"),
        ),
        Type::Message => (
            format!(
                "let slot = lens.len(); lens.push(0); let l = Encode::measure({v}, lens); lens[slot] = l as u32; n += {key_len} + varint_len(l as u64) + l;"
            ),
            format!("w.varint({key}); w.len_prefix(); Encode::write({v}, w);"),
        ),
        _ => {
            let (len, write) = scalar(field, v);
            (
                format!("n += {key_len} + {len};"),
                format!("w.varint({key}); {write};"),
            )
        }
    }
}

/// Renders `impl Encode` for every message of the `opentelemetry.*` packages.
pub(crate) fn render_encode(descriptors: &FileDescriptorSet) -> String {
    let mut out = String::from("use super::{Encode, Writer, varint_len};\n");
    for file in &descriptors.file {
        if !file.package().starts_with("opentelemetry.") {
            continue;
        }
        for message in &file.message_type {
            render_encode_message(file.package(), &[], message, &mut out);
        }
    }
    out
}

fn render_encode_message(
    package: &str,
    parents: &[&str],
    message: &DescriptorProto,
    out: &mut String,
) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_encode_message(package, &path, nested, out);
    }
    let rust = proto_path(&rust_path(package, &path));

    // prost writes fields in tag order, a oneof at the place of its lowest tag.
    let mut items: Vec<(i32, String, String)> = Vec::new();
    let mut oneofs_done = Vec::new();
    for field in &message.field {
        let member = rust_field(field.name());
        let access = format!("self.{member}");
        let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());
        if let Some(oneof) = real_oneof {
            if oneofs_done.contains(&oneof) {
                continue;
            }
            oneofs_done.push(oneof);
            let decl = message.oneof_decl[oneof as usize].name();
            let oneof_field = rust_field(decl);
            let members = oneof_members(message, oneof);
            let lowest = members.iter().map(|f| f.number()).min().expect("a member");
            let mut measure = format!("match &self.{oneof_field} {{");
            let mut write = measure.clone();
            for member in members {
                let variant = format!(
                    "{}::{}::{}",
                    proto_path(&nested_module(package, &path)),
                    upper_camel(decl),
                    upper_camel(member.name())
                );
                // A oneof member is written whatever its value.
                let v = match member.r#type() {
                    Type::String | Type::Bytes | Type::Message => "v",
                    _ => "*v",
                };
                let (m, w) = encode_value(member, v);
                let _ = write!(measure, "Some({variant}(v)) => {{ {m} }}");
                let _ = write!(write, "Some({variant}(v)) => {{ {w} }}");
            }
            measure.push_str("None => {} }");
            write.push_str("None => {} }");
            items.push((lowest, measure, write));
            continue;
        }
        let (measure, write) = if field.label() == Label::Repeated {
            match field.r#type() {
                Type::String | Type::Bytes | Type::Message => {
                    let (m, w) = encode_value(field, "v");
                    (
                        format!("for v in &{access} {{ {m} }}"),
                        format!("for v in &{access} {{ {w} }}"),
                    )
                }
                _ => {
                    // Packed, proto3's default. The varint form's data length
                    // is measured once and cached like a message's length.
                    let (key, key_len) = key_of(field, 2);
                    let (len, write) = scalar(field, "v");
                    match wire_type(field) {
                        0 => (
                            format!(
                                "if !{access}.is_empty() {{ let l: usize = {access}.iter().map(|&v| {len}).sum(); lens.push(l as u32); n += {key_len} + varint_len(l as u64) + l; }}"
                            ),
                            format!(
                                "if !{access}.is_empty() {{ w.varint({key}); w.len_prefix(); for &v in &{access} {{ {write}; }} }}"
                            ),
                        ),
                        _ => (
                            format!(
                                "if !{access}.is_empty() {{ let l = {access}.len() * {len}; n += {key_len} + varint_len(l as u64) + l; }}"
                            ),
                            format!(
                                "if !{access}.is_empty() {{ w.varint({key}); w.varint(({access}.len() * {len}) as u64); for &v in &{access} {{ {write}; }} }}"
                            ),
                        ),
                    }
                }
            }
        } else if field.proto3_optional() || field.r#type() == Type::Message {
            let v = match field.r#type() {
                Type::String | Type::Bytes | Type::Message => "v",
                _ => "*v",
            };
            let (m, w) = encode_value(field, v);
            (
                format!("if let Some(v) = &{access} {{ {m} }}"),
                format!("if let Some(v) = &{access} {{ {w} }}"),
            )
        } else {
            // proto3: a field at its default value is not written.
            let present = match field.r#type() {
                Type::String | Type::Bytes => format!("!{access}.is_empty()"),
                Type::Bool => access.clone(),
                Type::Double | Type::Float => format!("{access} != 0.0"),
                _ => format!("{access} != 0"),
            };
            let (m, w) = encode_value(field, &access);
            (
                format!("if {present} {{ {m} }}"),
                format!("if {present} {{ {w} }}"),
            )
        };
        items.push((field.number(), measure, write));
    }
    items.sort_by_key(|(number, _, _)| *number);
    let measure: String = items.iter().map(|(_, m, _)| m.as_str()).collect();
    let write: String = items.iter().map(|(_, _, w)| w.as_str()).collect();
    let (lens, w) = if items.is_empty() {
        ("_lens", "_w")
    } else {
        ("lens", "w")
    };
    let _ = write!(
        out,
        r#"
impl Encode for {rust} {{
    #[allow(unused_mut, unused_variables)]
    fn measure(&self, {lens}: &mut Vec<u32>) -> usize {{
        let mut n = 0;
        {measure}
        n
    }}
    fn write(&self, {w}: &mut Writer<'_>) {{
        {write}
    }}
}}
"#
    );
}

/// The fields of `message` in its real (not proto3 `optional`) oneof number
/// `oneof`, in declaration order.
pub(crate) fn oneof_members(message: &DescriptorProto, oneof: i32) -> Vec<&FieldDescriptorProto> {
    message
        .field
        .iter()
        .filter(|f| f.oneof_index == Some(oneof) && !f.proto3_optional())
        .collect()
}
