//! Bounded decompression.
//!
//! Codings are decoded as a stream into the caller's buffer, which grows
//! geometrically but never past the limit; one more byte past the limit ends
//! the call. Memory is therefore the output (at most `limit`) plus the
//! decoder's fixed state (zstd: a window of at most 8 MiB; lz4: one block in
//! and up to two out, at most 12 MiB for 4 MiB blocks). Two shapes of
//! input declare their size up front and are decoded in one call after the
//! size is checked: snappy blocks, and a slice holding one zstd frame with
//! its content size.

use std::io::{self, BufRead, Read};

use crate::{Compression, Error};

#[cfg(feature = "lz4")]
mod lz4;

/// RFC 9659: zstd as an HTTP content coding uses windows of at most 8 MiB,
/// which also caps the decoder's window buffer at 8 MiB.
#[cfg(feature = "zstd")]
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// The smallest step by which the output grows, so small bodies take one or two reads.
const MIN_GROWTH: usize = 16 * 1024;

pub(crate) fn decompress(
    compression: Compression,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    match compression {
        Compression::None if input.len() > limit => Err(Error::LimitExceeded { limit }),
        Compression::None => {
            out.extend_from_slice(input);
            Ok(input.len())
        }
        // The block format needs its whole input anyway: decode it in place.
        #[cfg(feature = "snappy")]
        Compression::Snappy => {
            let start = out.len();
            let result = decode_snappy_block(input, limit, out);
            finish(compression, result, detect(input), out, start)
        }
        // A whole single frame that declares its size decodes in one call
        // straight into `out`, without the streaming decoder's window and copy.
        #[cfg(feature = "zstd")]
        Compression::Zstd => match zstd_frame_len(input) {
            Some(len) => {
                let start = out.len();
                let result = decode_zstd_frame(input, len, limit, out);
                finish(compression, result, detect(input), out, start)
            }
            None => decompress_from(compression, input, limit, out),
        },
        _ => decompress_from(compression, input, limit, out),
    }
}

pub(crate) fn decompress_from(
    compression: Compression,
    input: impl BufRead,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    if !compression.is_supported() {
        return Err(Error::Unsupported { compression });
    }
    let start = out.len();
    let mut source = Source::new(input);
    let result = decode(compression, &mut source, limit, out).map_err(|e| match e {
        Failure::Io(e) => source.classify(compression, e),
        Failure::Error(e) => e,
    });
    finish(compression, result, source.detected(), out, start)
}

/// Names the right coding when bad input carries another's signature, and
/// leaves `out` as it was on any error.
fn finish(
    compression: Compression,
    result: Result<usize, Error>,
    detected: Option<Compression>,
    out: &mut Vec<u8>,
    start: usize,
) -> Result<usize, Error> {
    let result = result.map_err(|e| match detected {
        Some(detected) if e.is_invalid_input() && detected != compression => Error::WrongCoding {
            declared: compression,
            detected,
        },
        _ => e,
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Why a decoder stopped: an I/O error still to be classified, or a final answer.
enum Failure {
    Io(io::Error),
    Error(Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

fn decode<R: BufRead>(
    compression: Compression,
    source: &mut Source<R>,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, Failure> {
    match compression {
        Compression::None => read_bounded(source, limit, out),
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            // Multi-member: concatenated gzip members are one body (RFC 1952 2.2).
            read_bounded(flate2::bufread::MultiGzDecoder::new(source), limit, out)
        }
        #[cfg(feature = "deflate")]
        Compression::Deflate => {
            let mut head = [0u8; 2];
            let n = read_up_to(source, &mut head)?;
            let input = io::Cursor::new(&head[..n]).chain(source);
            if is_zlib_header(&head[..n]) {
                read_bounded(flate2::bufread::ZlibDecoder::new(input), limit, out)
            } else {
                read_bounded(flate2::bufread::DeflateDecoder::new(input), limit, out)
            }
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            // A declared content size over the limit fails before any allocation.
            let header = source.fill_buf()?;
            if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(header)
                && size > limit as u64
            {
                return Err(Error::LimitExceeded { limit }.into());
            }
            let mut decoder = zstd::stream::read::Decoder::with_buffer(source)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            read_bounded(decoder, limit, out)
        }
        #[cfg(feature = "snappy")]
        Compression::Snappy => {
            // The block format is not a stream: gather the input, but no more
            // than a body of `limit` bytes can compress to.
            let max_input = snap::raw::max_compress_len(limit).max(limit);
            let mut input = Vec::new();
            read_bounded(source, max_input, &mut input).map_err(|e| match e {
                Failure::Error(Error::LimitExceeded { .. }) => {
                    Error::LimitExceeded { limit }.into()
                }
                e => e,
            })?;
            Ok(decode_snappy_block(&input, limit, out)?)
        }
        #[cfg(feature = "snappy")]
        Compression::SnappyFramed => {
            read_bounded(snap::read::FrameDecoder::new(source), limit, out)
        }
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            let mut decoder = lz4::Decoder::new(source, limit);
            append_bounded(&mut decoder, limit, out).map_err(|e| match e {
                Failure::Io(_) if decoder.over_limit() => Error::LimitExceeded { limit }.into(),
                e => e,
            })
        }
        #[allow(unreachable_patterns)]
        _ => Err(Error::Unsupported { compression }.into()),
    }
}

/// Appends what `reader` yields to `out`, failing once it would pass `limit` bytes.
fn read_bounded(mut reader: impl Read, limit: usize, out: &mut Vec<u8>) -> Result<usize, Failure> {
    let start = out.len();
    loop {
        let written = out.len() - start;
        let room = limit - written;
        if room == 0 {
            // Full: the input is within the limit only if nothing is left.
            let mut probe = [0u8; 1];
            return match read_up_to(&mut reader, &mut probe)? {
                0 => Ok(written),
                _ => Err(Error::LimitExceeded { limit }.into()),
            };
        }
        if out.len() == out.capacity() {
            // Double what was written so far, but never reserve past the limit.
            out.reserve_exact(written.max(MIN_GROWTH).min(room));
        }
        let spare = (out.capacity() - out.len()).min(room);
        // `take` keeps read_to_end inside the reserved capacity: it stops at
        // `spare` bytes and never grows the vector itself.
        if reader.by_ref().take(spare as u64).read_to_end(out)? == 0 {
            return Ok(written);
        }
    }
}

/// Like [`read_bounded`], for a decoder that hands out its own buffer: its
/// output is appended as it is, where `read` would first zero the space it
/// reads into.
#[cfg(feature = "lz4")]
fn append_bounded(
    mut reader: impl BufRead,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, Failure> {
    let start = out.len();
    loop {
        let written = out.len() - start;
        let room = limit - written;
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(written);
        }
        if chunk.len() > room {
            return Err(Error::LimitExceeded { limit }.into());
        }
        if out.capacity() - out.len() < chunk.len() {
            // Double what was written so far, at least the chunk, never past the limit.
            out.reserve_exact(written.max(MIN_GROWTH).max(chunk.len()).min(room));
        }
        let n = chunk.len();
        out.extend_from_slice(chunk);
        reader.consume(n);
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(feature = "snappy")]
fn decode_snappy_block(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<usize, Error> {
    let invalid = |e: snap::Error| match e {
        snap::Error::HeaderMismatch { .. } | snap::Error::CopyRead { .. } | snap::Error::Empty => {
            Error::Truncated {
                compression: Compression::Snappy,
            }
        }
        snap::Error::Literal { len, src_len, .. } if len > src_len => Error::Truncated {
            compression: Compression::Snappy,
        },
        e => Error::Corrupt {
            compression: Compression::Snappy,
            source: Box::new(e),
        },
    };
    // The header declares the output size: check it before allocating.
    let len = snap::raw::decompress_len(input).map_err(invalid)?;
    if len > limit {
        return Err(Error::LimitExceeded { limit });
    }
    let start = out.len();
    if start == 0 && out.capacity() < len {
        // A fresh zeroed allocation gets zero pages from the OS for free, where
        // `resize` writes every byte (+37% instructions for a 5.5 MB body).
        *out = vec![0; len];
    } else {
        out.resize(start + len, 0);
    }
    snap::raw::Decoder::new()
        .decompress(input, &mut out[start..])
        .map_err(invalid)
}

/// The content size of `input` if it is exactly one zstd frame that declares it.
#[cfg(feature = "zstd")]
fn zstd_frame_len(input: &[u8]) -> Option<u64> {
    use zstd::zstd_safe;
    let whole = zstd_safe::find_frame_compressed_size(input).is_ok_and(|n| n == input.len());
    zstd_safe::get_frame_content_size(input)
        .ok()
        .flatten()
        .filter(|_| whole)
}

#[cfg(feature = "zstd")]
fn decode_zstd_frame(
    input: &[u8],
    len: u64,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    // The declared size is checked before allocating; zstd then refuses
    // to write more than it.
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= limit)
        .ok_or(Error::LimitExceeded { limit })?;
    out.reserve_exact(len);
    let start = out.len();
    let mut tail = io::Cursor::new(&mut *out);
    tail.set_position(start as u64);
    zstd::zstd_safe::decompress(&mut tail, input).map_err(|code| Error::Corrupt {
        compression: Compression::Zstd,
        source: zstd::zstd_safe::get_error_name(code).into(),
    })
}

#[cfg(feature = "deflate")]
fn is_zlib_header(head: &[u8]) -> bool {
    // RFC 1950: method 8 (deflate), window at most 32 KiB, and the two bytes
    // read big-endian are a multiple of 31. A raw deflate stream starts like
    // this by chance only rarely, which is what HTTP clients rely on too.
    match *head {
        [cmf, flg] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
        }
        _ => false,
    }
}

/// The coding whose signature `input` starts with, if any. Only codings with
/// a magic number are recognised: raw deflate and snappy blocks have none, and
/// a zlib header is too weak a sign (one two-byte pair in ~500).
fn detect(input: &[u8]) -> Option<Compression> {
    if input.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if input.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if input.starts_with(b"\xff\x06\x00\x00sNaPpY") {
        Some(Compression::SnappyFramed)
    } else if input.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some(Compression::Lz4)
    } else {
        None
    }
}

/// The caller's input, watched: it remembers its first bytes (to recognise
/// another coding's signature) and whether reading it failed (to tell the
/// caller's I/O errors from bad data).
struct Source<R> {
    inner: R,
    head: [u8; Source::<()>::HEAD],
    head_len: usize,
    position: u64,
    failed: bool,
}

impl Source<()> {
    /// Long enough for the longest signature, snappy's stream identifier.
    const HEAD: usize = 10;
}

impl<R: BufRead> Source<R> {
    fn new(inner: R) -> Self {
        Source {
            inner,
            head: [0; Source::<()>::HEAD],
            head_len: 0,
            position: 0,
            failed: false,
        }
    }

    fn classify(&self, compression: Compression, e: io::Error) -> Error {
        if self.failed {
            Error::Io(e)
        } else if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Truncated { compression }
        } else {
            Error::Corrupt {
                compression,
                source: Box::new(e),
            }
        }
    }

    /// The coding whose signature the input starts with, if any.
    fn detected(&self) -> Option<Compression> {
        detect(&self.head[..self.head_len])
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_from_buf(self, buf)
    }
}

/// `Read::read` of a reader whose `BufRead` side does the work.
fn read_from_buf(reader: &mut impl BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let buf = match self.inner.fill_buf() {
            Ok(buf) => buf,
            Err(e) => {
                self.failed = e.kind() != io::ErrorKind::Interrupted;
                return Err(e);
            }
        };
        if let Some(offset) = usize::try_from(self.position)
            .ok()
            .filter(|&o| o < self.head.len())
        {
            let n = (self.head.len() - offset).min(buf.len());
            self.head[offset..offset + n].copy_from_slice(&buf[..n]);
            self.head_len = self.head_len.max(offset + n);
        }
        Ok(buf)
    }

    fn consume(&mut self, amt: usize) {
        self.position += amt as u64;
        self.inner.consume(amt);
    }
}
