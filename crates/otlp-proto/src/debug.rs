//! The pieces of the generated `Debug` impls: enum fields by name, as
//! prost-derive prints them, and ids as hex, as OTLP/JSON writes them.

use std::fmt;
use std::marker::PhantomData;

/// A trace or span id, printed as lowercase hex.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// An `i32` enum field, printed as the name of the value of `E` it holds, or
/// as the number when it names none.
pub(crate) struct EnumValue<E>(i32, PhantomData<E>);

impl<E> EnumValue<E> {
    pub(crate) fn new(value: i32) -> Self {
        Self(value, PhantomData)
    }
}

impl<E: TryFrom<i32> + fmt::Debug> fmt::Debug for EnumValue<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match E::try_from(self.0) {
            Ok(value) => value.fmt(f),
            Err(_) => self.0.fmt(f),
        }
    }
}
