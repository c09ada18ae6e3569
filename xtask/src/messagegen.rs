//! The OTLP messages with `ByteString` string fields, and their
//! `prost::Message` impls.
//!
//! prost-build can only generate `String` for a protobuf `string` (there is no
//! string-type option: tokio-rs/prost#392, #752), and `#[derive(prost::Message)]`
//! knows no other string type. So the `opentelemetry.*` files prost-build
//! writes are post-processed here: string fields become `crate::ByteString`,
//! the `prost` derives and field attributes go (keeping the doc comments and
//! the other derives), and the impls prost-derive would have written are
//! generated from the descriptors instead — calling `prost::encoding::*` for
//! every field as prost-derive's expansion does, and `crate::string_field`
//! for strings, whose `merge` slices the string out of a `Bytes` body.
//!
//! `Debug` is generated too: like prost-derive's, it prints an enum field by
//! its value's name (`kind: Server`, the number when it names none), and
//! beyond it, trace and span ids as hex, as OTLP/JSON writes them.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::protogen::oneof_members;
use crate::serdegen::is_id;
use crate::strategies::{nested_module, rust_field, rust_path, split_type_name, upper_camel};

const PROST_STRING: &str = "::prost::alloc::string::String";

/// Rewrites one prost-build output file of an `opentelemetry.*` package:
/// `ByteString` fields, no prost derives (the impls come from [`render`]).
pub(crate) fn post_process(content: &str) -> Result<String, String> {
    let mut out = String::with_capacity(content.len());
    for line in content.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[prost(") {
            if !trimmed.ends_with(")]") {
                return Err(format!("a prost attribute on several lines: {line}"));
            }
            continue;
        }
        let line = if trimmed.starts_with("#[derive(") {
            // prost-derive's `Message` also implements `Debug` (generated
            // by `render`) and `Default`; its `Oneof` implements `Debug`.
            line.replace("::prost::Message", "Default")
                .replace("::prost::Oneof", "Debug")
        } else if trimmed.ends_with(',') && !trimmed.contains("fn ") {
            // A field or a oneof variant: its type.
            line.replace(PROST_STRING, "crate::ByteString")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Renders `impl prost::Message` (and prost's accessors for enum and
/// optional fields) for every message of `package`.
pub(crate) fn render(descriptors: &FileDescriptorSet, package: &str) -> String {
    let mut out = String::new();
    for file in descriptors.file.iter().filter(|f| f.package() == package) {
        for message in &file.message_type {
            render_message(package, &[], message, &mut out);
        }
    }
    out
}

/// The `prost::encoding` module (or our own, for strings) of a field's type.
fn module(field: &FieldDescriptorProto) -> &'static str {
    match field.r#type() {
        Type::Double => "::prost::encoding::double",
        Type::Float => "::prost::encoding::float",
        Type::Int64 => "::prost::encoding::int64",
        Type::Uint64 => "::prost::encoding::uint64",
        Type::Int32 | Type::Enum => "::prost::encoding::int32",
        Type::Fixed64 => "::prost::encoding::fixed64",
        Type::Fixed32 => "::prost::encoding::fixed32",
        Type::Bool => "::prost::encoding::bool",
        Type::String => "crate::string_field",
        Type::Bytes => "::prost::encoding::bytes",
        Type::Message => "::prost::encoding::message",
        Type::Uint32 => "::prost::encoding::uint32",
        Type::Sfixed32 => "::prost::encoding::sfixed32",
        Type::Sfixed64 => "::prost::encoding::sfixed64",
        Type::Sint32 => "::prost::encoding::sint32",
        Type::Sint64 => "::prost::encoding::sint64",
        other => panic!("unsupported field type {other:?} for {}", field.name()),
    }
}

/// The Rust type of a scalar field's value, for accessors.
fn scalar_type(field: &FieldDescriptorProto) -> &'static str {
    match field.r#type() {
        Type::Double => "f64",
        Type::Float => "f32",
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => "i64",
        Type::Uint64 | Type::Fixed64 => "u64",
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => "i32",
        Type::Uint32 | Type::Fixed32 => "u32",
        Type::Bool => "bool",
        other => panic!("no accessor for {other:?} field {}", field.name()),
    }
}

/// The condition under which a proto3 singular field is written: not at its
/// default (prost-derive compares with the default the same way).
fn present(field: &FieldDescriptorProto, access: &str) -> String {
    match field.r#type() {
        Type::String | Type::Bytes => format!("!{access}.is_empty()"),
        Type::Bool => access.to_string(),
        Type::Double | Type::Float => format!("{access} != 0.0"),
        _ => format!("{access} != 0"),
    }
}

fn is_packed(field: &FieldDescriptorProto) -> bool {
    !matches!(
        field.r#type(),
        Type::String | Type::Bytes | Type::Message | Type::Group
    )
}

fn render_message(package: &str, parents: &[&str], message: &DescriptorProto, out: &mut String) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(message.name());
    for nested in &message.nested_type {
        render_message(package, &path, nested, out);
    }
    let rust = rust_path(package, &path);
    let name = message.name();

    // prost-derive encodes the fields in tag order, a oneof at its lowest tag.
    let mut items: Vec<(i32, String, String)> = Vec::new();
    let mut merges = String::new();
    let mut clears = String::new();
    let mut accessors = String::new();
    let mut debug = String::new();
    let mut oneofs_done = Vec::new();
    for field in &message.field {
        let number = field.number();
        let m = module(field);
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
            let mut encode = format!("if let Some(oneof) = &self.{oneof_field} {{ match oneof {{");
            let mut len = format!("self.{oneof_field}.as_ref().map_or(0, |oneof| match oneof {{");
            for member in members {
                let variant = format!(
                    "{}::{}::{}",
                    nested_module(package, &path),
                    upper_camel(decl),
                    upper_camel(member.name())
                );
                let mm = module(member);
                let tag = member.number();
                let _ = write!(encode, "{variant}(v) => {mm}::encode({tag}, v, buf),");
                let _ = write!(len, "{variant}(v) => {mm}::encoded_len({tag}, v),");
                // A value merges into the variant the oneof holds, as prost does.
                let _ = write!(
                    merges,
                    "{tag} => (if let Some({variant}(v)) = &mut self.{oneof_field} {{ {mm}::merge(wire_type, v, buf, ctx) }} else {{ let mut v = Default::default(); {mm}::merge(wire_type, &mut v, buf, ctx).map(|()| self.{oneof_field} = Some({variant}(v))) }}).map_err(|mut error| {{ error.push(STRUCT_NAME, \"{decl}\"); error }}),"
                );
            }
            encode.push_str("} }");
            len.push_str("})");
            let _ = write!(clears, "self.{oneof_field} = None;");
            let _ = write!(debug, ".field(\"{oneof_field}\", &self.{oneof_field})");
            items.push((lowest, encode, len));
            continue;
        }

        let member = rust_field(field.name());
        let access = format!("self.{member}");
        let field_name = field.name();
        let shown = match field.r#type() {
            Type::Enum if field.label() != Label::Repeated => {
                let (enum_package, enum_path) = split_type_name(field.type_name());
                let e = rust_path(enum_package, &enum_path);
                format!("&crate::debug::EnumValue::<{e}>::new({access})")
            }
            Type::Bytes if is_id(field) => format!("&crate::debug::Hex(&{access})"),
            _ => format!("&{access}"),
        };
        let _ = write!(debug, ".field(\"{field_name}\", {shown})");
        let (encode, len, merge) = if field.label() == Label::Repeated {
            if field.r#type() == Type::Enum {
                panic!("repeated enum fields have no accessors here: {field_name}");
            }
            let (encode, len, merge) = if is_packed(field) {
                ("encode_packed", "encoded_len_packed", "merge_repeated")
            } else {
                ("encode_repeated", "encoded_len_repeated", "merge_repeated")
            };
            (
                format!("{m}::{encode}({number}, &{access}, buf);"),
                format!("{m}::{len}({number}, &{access})"),
                format!("{m}::{merge}(wire_type, &mut {access}, buf, ctx)"),
            )
        } else if field.proto3_optional() || field.r#type() == Type::Message {
            if field.proto3_optional() && field.r#type() != Type::Message {
                let ty = scalar_type(field);
                let _ = write!(
                    accessors,
                    "/// Returns the value of `{member}`, or the default value if `{member}` is unset.\npub fn {member}(&self) -> {ty} {{ match self.{member} {{ Some(value) => value, None => {ty}::default() }} }}\n"
                );
            }
            (
                format!("if let Some(v) = &{access} {{ {m}::encode({number}, v, buf); }}"),
                format!("{access}.as_ref().map_or(0, |v| {m}::encoded_len({number}, v))"),
                format!(
                    "{m}::merge(wire_type, {access}.get_or_insert_with(Default::default), buf, ctx)"
                ),
            )
        } else {
            if field.r#type() == Type::Enum {
                let (enum_package, enum_path) = split_type_name(field.type_name());
                let e = rust_path(enum_package, &enum_path);
                let setter = format!("set_{}", member.trim_start_matches("r#"));
                let _ = write!(
                    accessors,
                    "/// Returns the enum value of `{member}`, or the default if the field is set to an invalid enum value.\npub fn {member}(&self) -> {e} {{ {e}::try_from(self.{member}).unwrap_or_default() }}\n/// Sets `{member}` to the provided enum value.\npub fn {setter}(&mut self, value: {e}) {{ self.{member} = value as i32; }}\n"
                );
            }
            let cond = present(field, &access);
            (
                format!("if {cond} {{ {m}::encode({number}, &{access}, buf); }}"),
                format!("(if {cond} {{ {m}::encoded_len({number}, &{access}) }} else {{ 0 }})"),
                format!("{m}::merge(wire_type, &mut {access}, buf, ctx)"),
            )
        };
        let _ = write!(
            merges,
            "{number} => {merge}.map_err(|mut error| {{ error.push(STRUCT_NAME, \"{field_name}\"); error }}),"
        );
        let _ = write!(clears, "{access} = Default::default();");
        items.push((number, encode, len));
    }
    items.sort_by_key(|(number, _, _)| *number);
    let encode: String = items.iter().map(|(_, e, _)| e.as_str()).collect();
    let len: Vec<&str> = items.iter().map(|(_, _, l)| l.as_str()).collect();
    let len = if len.is_empty() {
        "0".to_string()
    } else {
        len.join(" + ")
    };
    let merge_body = if merges.is_empty() {
        "::prost::encoding::skip_field(wire_type, tag, buf, ctx)".to_string()
    } else {
        format!(
            "const STRUCT_NAME: &str = \"{name}\"; match tag {{ {merges} _ => ::prost::encoding::skip_field(wire_type, tag, buf, ctx), }}"
        )
    };
    let _ = write!(
        out,
        r#"
impl ::prost::Message for {rust} {{
    #[allow(unused_variables)]
    fn encode_raw(&self, buf: &mut impl ::prost::bytes::BufMut) {{
        {encode}
    }}
    #[allow(unused_variables)]
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: ::prost::encoding::wire_type::WireType,
        buf: &mut impl ::prost::bytes::Buf,
        ctx: ::prost::encoding::DecodeContext,
    ) -> ::core::result::Result<(), ::prost::DecodeError> {{
        {merge_body}
    }}
    fn encoded_len(&self) -> usize {{
        {len}
    }}
    fn clear(&mut self) {{
        {clears}
    }}
}}
"#
    );
    let _ = write!(
        out,
        r#"
impl ::core::fmt::Debug for {rust} {{
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{
        f.debug_struct("{name}"){debug}.finish()
    }}
}}
"#
    );
    if !accessors.is_empty() {
        let _ = writeln!(out, "impl {rust} {{ {accessors} }}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_process_swaps_string_fields_and_prost_derives() {
        let prost = r#"/// A key.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: ::prost::alloc::string::String,
    #[prost(string, repeated, tag = "2")]
    pub keys: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
}
impl ::prost::Name for KeyValue {
    fn full_name() -> ::prost::alloc::string::String {
        "KeyValue".into()
    }
}
#[derive(Clone, PartialEq, ::prost::Oneof)]
pub enum Value {
    #[prost(string, tag = "1")]
    StringValue(::prost::alloc::string::String),
}
"#;
        let ours = post_process(prost).unwrap();
        assert_eq!(
            ours,
            r#"/// A key.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyValue {
    /// The key.
    pub key: crate::ByteString,
    pub keys: ::prost::alloc::vec::Vec<crate::ByteString>,
}
impl ::prost::Name for KeyValue {
    fn full_name() -> ::prost::alloc::string::String {
        "KeyValue".into()
    }
}
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    StringValue(crate::ByteString),
}
"#
        );
    }

    #[test]
    fn a_prost_attribute_on_several_lines_is_refused() {
        let error = post_process("    #[prost(\n        string, tag = \"1\")]\n").unwrap_err();
        assert!(error.contains("several lines"), "{error}");
    }
}
