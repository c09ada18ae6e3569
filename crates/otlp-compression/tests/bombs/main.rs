//! Decompression bombs: a gigabyte of zeros per coding, rejected under a
//! 16 MiB limit while the heap never reaches twice the limit.
//!
//! The heap is measured by dhat's counting allocator, which sees every Rust
//! allocation and, through zstd's `with-rust-allocator` (enabled for the
//! tests), zstd's own. There is one profiler per process, so this binary
//! holds a single test that runs the bombs one after another; dhat's peak
//! only grows, so each check covers everything before it as well.

use std::io::{self, BufRead, Read, Write};

use otlp_compression::Compression;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const LIMIT: usize = 16 << 20;
const BOMB: u64 = 1 << 30;

/// Zeros to feed encoders from, outside the heap.
static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

#[test]
fn bombs_are_rejected_within_twice_the_limit() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut out = Vec::new();
    // Largest fixed state last, as it would hide the others' peaks: zstd's
    // 8 MiB window, then lz4's buffers for linked 4 MiB blocks (12 MiB).
    let order = [
        Compression::Snappy,
        Compression::SnappyFramed,
        Compression::Gzip,
        Compression::Deflate,
        Compression::Zstd,
        Compression::Lz4,
    ];
    for compression in order.into_iter().filter(|c| c.is_supported()) {
        for (what, bomb) in bombs(compression) {
            let stream: Box<dyn BufRead> = match bomb {
                Bomb::Bytes(bytes) => {
                    // Bombs held in memory go through both entry points.
                    out.clear();
                    let err = compression.decompress(&bytes, LIMIT, &mut out);
                    check(&format!("{what} (slice)"), err, &out);
                    Box::new(io::Cursor::new(bytes))
                }
                Bomb::Stream(stream) => stream,
            };
            out.clear();
            let err = compression.decompress_from(stream, LIMIT, &mut out);
            check(&format!("{what} (stream)"), err, &out);
        }
    }
}

fn check(what: &str, result: Result<usize, otlp_compression::Error>, out: &[u8]) {
    let err = result.expect_err("a 1 GiB body under a 16 MiB limit");
    assert!(err.is_limit_exceeded(), "{what}: {err}");
    assert!(out.is_empty(), "{what}: output not rolled back");
    let peak = dhat::HeapStats::get().max_bytes;
    eprintln!(
        "{what}: rejected; peak heap so far {:.1} MiB",
        peak as f64 / (1 << 20) as f64
    );
    assert!(
        peak < 2 * LIMIT,
        "{what}: peak heap {peak} bytes, limit {LIMIT}"
    );
}

/// A compressed gigabyte of zeros, held (when it is small) or streamed.
enum Bomb {
    Bytes(Vec<u8>),
    Stream(Box<dyn BufRead>),
}

/// The bombs for one coding, each a compressed gigabyte of zeros as a reader.
fn bombs(compression: Compression) -> Vec<(String, Bomb)> {
    let name = |what: &str| format!("{compression} {what}");
    match compression {
        Compression::Gzip => {
            let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let packed = zeros_into(encoder).and_then(|e| e.finish());
            vec![(name("stream"), held(packed))]
        }
        Compression::Deflate => {
            let zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            let raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            vec![
                (
                    name("zlib stream"),
                    held(zeros_into(zlib).and_then(|e| e.finish())),
                ),
                (
                    name("raw stream"),
                    held(zeros_into(raw).and_then(|e| e.finish())),
                ),
            ]
        }
        Compression::Zstd => {
            // Without a declared size the decoder has to stream into the limit,
            // here with the largest window it accepts (8 MiB); with a declared
            // size it can refuse at the header.
            let mut unsized_ = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
            unsized_.window_log(23).expect("window");
            let mut sized = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
            sized.set_pledged_src_size(Some(BOMB)).expect("pledge");
            sized.include_contentsize(true).expect("content size flag");
            vec![
                (
                    name("stream"),
                    held(zeros_into(unsized_).and_then(|e| e.finish())),
                ),
                (
                    name("with declared size"),
                    held(zeros_into(sized).and_then(|e| e.finish())),
                ),
            ]
        }
        Compression::Snappy => {
            // A block declares its length up front; a real 1 GiB block of
            // zeros is ~50 MB, so only its header and start are built.
            let mut block = varint(BOMB);
            block.extend_from_slice(&[0x00, 0x00]); // a 1-byte literal: 0
            for _ in 0..(1 << 16) {
                block.extend_from_slice(&[0x02 | (63 << 2), 0x01, 0x00]); // copy 64 bytes at offset 1
            }
            vec![(name("block header"), Bomb::Bytes(block))]
        }
        Compression::SnappyFramed => {
            // Framing compresses each 64 KiB on its own, so a gigabyte of zeros
            // is the stream identifier and one chunk, repeated: ~50 MB, streamed.
            let mut one = snap::write::FrameEncoder::new(Vec::new());
            one.write_all(&ZEROS).expect("write");
            let one = one.into_inner().expect("flush");
            let (identifier, chunk) = one.split_at(10);
            let times = BOMB / ZEROS.len() as u64;
            let stream =
                io::Cursor::new(identifier.to_vec()).chain(Repeat::new(chunk.to_vec(), times));
            vec![(
                name("stream"),
                Bomb::Stream(Box::new(io::BufReader::new(stream))),
            )]
        }
        Compression::Lz4 => {
            // An LZ4 block holds at most 4 MiB, compressed on its own: a
            // gigabyte of zeros is a frame header and one block of 4 MiB of
            // zeros, repeated (~4 MB, streamed). Linked blocks make the
            // decoder keep the most state; a declared content size lets it
            // refuse at the header.
            use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
            let block = FrameInfo::new().block_size(BlockSize::Max4MB);
            let linked = block.clone().block_mode(BlockMode::Linked);
            let sized = block.content_size(Some(BOMB));
            let (header, chunk) = lz4_head_and_block(linked);
            let times = BOMB / (4 << 20);
            let unsized_ = io::Cursor::new(header).chain(Repeat::new(chunk, times));
            let (header, chunk) = lz4_head_and_block(sized);
            let sized = io::Cursor::new(header)
                .chain(Repeat::new(chunk, times))
                .chain(io::Cursor::new(vec![0; 4]));
            vec![
                (
                    name("linked blocks"),
                    Bomb::Stream(Box::new(io::BufReader::new(unsized_))),
                ),
                (
                    name("with declared size"),
                    Bomb::Stream(Box::new(io::BufReader::new(sized))),
                ),
            ]
        }
        Compression::None => Vec::new(),
    }
}

/// The header of an LZ4 frame and its first block, 4 MiB of zeros.
fn lz4_head_and_block(info: lz4_flex::frame::FrameInfo) -> (Vec<u8>, Vec<u8>) {
    let header_len = if info.content_size.is_some() { 15 } else { 7 };
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    for _ in 0..(4 << 20) / ZEROS.len() {
        encoder.write_all(&ZEROS).expect("write");
    }
    encoder.flush().expect("flush");
    let mut frame = encoder.into_inner();
    let block = frame.split_off(header_len);
    (frame, block)
}

fn zeros_into<W: Write>(mut encoder: W) -> io::Result<W> {
    for _ in 0..BOMB / ZEROS.len() as u64 {
        encoder.write_all(&ZEROS)?;
    }
    Ok(encoder)
}

fn held(packed: io::Result<Vec<u8>>) -> Bomb {
    let packed = packed.expect("compressing zeros into a Vec");
    assert!(
        packed.len() < 4 << 20,
        "bomb of {} bytes: too weak a ratio",
        packed.len()
    );
    Bomb::Bytes(packed)
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// `chunk`, `times` times over, without holding more than one copy.
struct Repeat {
    chunk: Vec<u8>,
    times: u64,
    at: usize,
}

impl Repeat {
    fn new(chunk: Vec<u8>, times: u64) -> Self {
        Repeat {
            chunk,
            times,
            at: 0,
        }
    }
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.times == 0 {
            return Ok(0);
        }
        let n = (self.chunk.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        if self.at == self.chunk.len() {
            self.at = 0;
            self.times -= 1;
        }
        Ok(n)
    }
}

/// The framed bomb above is what the encoder itself writes for many zero chunks.
#[test]
fn repeated_chunks_are_what_framing_writes() {
    let mut encoder = snap::write::FrameEncoder::new(Vec::new());
    for _ in 0..4 {
        encoder.write_all(&ZEROS).expect("write");
    }
    let four = encoder.into_inner().expect("flush");
    let mut one = snap::write::FrameEncoder::new(Vec::new());
    one.write_all(&ZEROS).expect("write");
    let one = one.into_inner().expect("flush");
    let mut repeated = one[..10].to_vec();
    Repeat::new(one[10..].to_vec(), 4)
        .read_to_end(&mut repeated)
        .expect("read");
    assert_eq!(four, repeated);
}
