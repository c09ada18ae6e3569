//! What the decoders' tests share.

/// Every way of breaking a valid body at `at`: cut it there, flip a byte,
/// splice `byte` in.
pub(crate) fn mutations(body: &[u8], at: usize, byte: u8) -> Vec<Vec<u8>> {
    let at = at % (body.len() + 1);
    let mut flipped = body.to_vec();
    if let Some(b) = flipped.get_mut(at) {
        *b ^= byte | 1;
    }
    let mut spliced = body.to_vec();
    spliced.insert(at, byte);
    vec![body[..at].to_vec(), flipped, spliced]
}
