//! A disk-backed journal for the [`Queue`](crate::Queue), like the Collector's
//! exporter queue with `storage: file_storage`: what the queue accepted
//! survives a crash or restart and is exported on the next start.
//!
//! Open a directory with [`Storage::open`] (or [`Storage::builder`]) and hand
//! it to [`QueueBuilder::build_persistent`](crate::QueueBuilder::build_persistent).
//! Every item is written to the directory before `push` returns `Ok` (and
//! flushed to the disk as the [`SyncPolicy`] says); an item is marked done once
//! it is exported, failed for good or dropped (each counted as usual), and
//! whatever was not done when the process stopped — killed, crashed, or shut
//! down before the queue drained — is queued again, in order, when the
//! directory is next opened. Delivery is at least once: an item in flight at
//! the crash is sent again, and so, after a crash of the machine, may be an
//! item whose "done" mark was not flushed yet (marks are written at once but
//! never waited for).
//!
//! # On disk
//! Append-only segment files `NNNNNNNNNNNNNNNNNNNN.seg`, a new one after
//! [`StorageBuilder::segment_bytes`]; each starts with the magic `OTLPQSEG`
//! and the format version (4 bytes, little-endian, now 1), then records:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | record magic `OTQR` |
//! | 4 | CRC-32 (IEEE) of everything after this field |
//! | 4 | body length, little-endian |
//! | 8 | sequence number, little-endian |
//! | 1 | signal: 1 traces, 2 metrics, 3 logs, 4 profiles |
//! | 1 | codec: 1 protobuf, 2 JSON, 3 MessagePack, 4 CBOR |
//! | 1 | compression: [`Compression::code`] (0 none, 1 gzip, 2 deflate, 3 zstd, 4 snappy, 5 snappy-framed, 6 lz4) |
//! | 1 | reserved, 0 |
//! | n | the body as it travels (encoded, compressed) |
//!
//! Beside each segment, `NNNN….ack` lists the sequence numbers done (8 bytes
//! each, with a 4-byte CRC-32). A segment whose records are all done is
//! deleted with its ack file. A `lock` file holds an advisory lock (and the
//! owner's pid) so that one process at a time uses a directory; the operating
//! system releases it when the process dies, however it dies.
//!
//! On open, a record cut short at the end of a segment (a crash mid-write) is
//! truncated and counted as torn; a damaged record elsewhere is skipped and
//! counted as corrupt, and reading resumes at the next record whose magic and
//! checksum are good. Neither stops the open; a file named like a segment
//! that is not one, or one of a newer format version, does, with a
//! [`StorageError`] saying what to do, rather than be skipped and lost.
//!
//! # Memory, disk and cost
//! Queued items stay in memory as well as on disk, so the queue's byte limit
//! still bounds memory. Items recovered on open are all queued even beyond the
//! limits (they were accepted once); pushes wait or are refused until there is
//! room again. On disk are the queued items, plus the rest of each segment
//! that an item in flight keeps alive.
//!
//! A push that may flush to disk writes on a blocking thread; one that will
//! not writes to the page cache in place, which costs less than the hop.
//! Measured by `cargo run --release -p otlp-reliability --example overhead`
//! on the project's shared 2-core machine (512-byte items, an exporter that
//! answers at once; runs vary with the virtual disk's flush time, 0.2–3.5 ms):
//! 300–5 000 items/s for [`SyncPolicy::EveryPush`] from one producer,
//! 11 000–30 000 from 16 producers sharing flushes, 240 000–340 000 with
//! [`SyncPolicy::Interval`] of a second, 340 000–450 000 with
//! [`SyncPolicy::Never`]; in memory alone, 2–3 million.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{Encoded, Signal};

/// When the journal asks the operating system to put written items on the
/// disk (`fsync`). Items are written to the operating system before `push`
/// returns in every policy, so a killed or crashed *process* loses nothing;
/// the policy decides what a crash of the *machine* (power loss, kernel
/// panic) may lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Before each `push` returns (concurrent pushes share one sync): nothing
    /// accepted is lost even by the machine. The safe default; costs one
    /// disk flush per push, or per group of concurrent pushes.
    EveryPush,
    /// At most once per interval, by the push that finds the last sync older:
    /// a machine crash may lose the items of the last interval.
    Interval(Duration),
    /// Never explicitly: the operating system writes back when it likes
    /// (typically within 30 s).
    Never,
}

/// Why a queue directory could not be opened or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file operation failed; the message names the file. Check the
    /// directory's permissions and free space.
    #[error("cannot {action} {}: {message}", path.display())]
    Io {
        /// What was being done ("create", "write", "read", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's classification.
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// Another process (or another queue in this one) uses the directory.
    #[error(
        "the queue directory {} is in use by {}: stop that process, or give this one another directory",
        path.display(),
        match pid { Some(pid) => format!("process {pid}"), None => "another process".to_owned() }
    )]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The process holding it, when it wrote its pid.
        pid: Option<u32>,
    },
    /// A segment file does not start like one: it is not the queue's, or its
    /// first bytes are damaged. Move it out of the directory (keep it if its
    /// contents matter) and start again.
    #[error("{} is not a queue segment (bad magic at its start): move it out of the directory", path.display())]
    NotASegment {
        /// The file.
        path: PathBuf,
    },
    /// A segment was written in a format version this build does not read
    /// (by a newer build). Run that build on the directory until it drains,
    /// or use another directory.
    #[error("{} has format version {version}; this build reads version {FORMAT_VERSION}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        version: u32,
    },
    /// The item's codec has no code in the journal format (a codec newer
    /// than this build's journal).
    #[error("the codec {0:?} cannot be stored in the queue directory")]
    UnstorableCodec(Codec),
    /// The item's body is over the format's 4 GiB limit for one record;
    /// split it.
    #[error("the item is {size} bytes, over the queue directory's limit of 4 GiB per item")]
    TooLarge {
        /// The body's size.
        size: usize,
    },
    /// The journal was closed by the queue's shutdown.
    #[error("the queue's storage is closed")]
    Closed,
}

impl StorageError {
    fn io(action: &'static str, path: &Path, error: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

/// What the storage of a queue found on open, and holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageSnapshot {
    /// Items found on disk not yet done, queued again on open.
    pub recovered_items: u64,
    /// Their bytes (bodies).
    pub recovered_bytes: u64,
    /// Damaged stretches skipped on open (each one or more records lost).
    pub corrupt_records: u64,
    /// Bytes in those stretches.
    pub corrupt_bytes: u64,
    /// Records cut short by a crash mid-write, truncated on open.
    pub torn_records: u64,
    /// "Done" marks that could not be written (those items may be sent
    /// again after a restart).
    pub ack_errors: u64,
    /// Segment files in the directory now.
    pub segments: usize,
    /// Their total size now, in bytes.
    pub disk_bytes: u64,
}

/// How to open a queue directory; from [`Storage::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageBuilder {
    dir: PathBuf,
    sync: SyncPolicy,
    segment_bytes: u64,
}

impl StorageBuilder {
    /// When written items are flushed to the disk; [`SyncPolicy::EveryPush`]
    /// by default.
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// The size after which a new segment file is started (8 MiB by default):
    /// smaller segments free disk space sooner, larger ones make fewer files.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1);
        self
    }

    /// Creates the directory if need be, locks it, and reads what a previous
    /// run left: the items not done are returned in the [`Storage`], to be
    /// queued first.
    pub fn open(self) -> Result<Storage, StorageError> {
        Storage::open_with(self)
    }
}

/// An open, locked queue directory, with the items a previous run left;
/// give it to [`QueueBuilder::build_persistent`](crate::QueueBuilder::build_persistent).
pub struct Storage {
    pub(crate) journal: Journal,
    pub(crate) recovered: Vec<(Ticket, Encoded)>,
}

impl Storage {
    /// How to open `dir`, starting from the defaults.
    pub fn builder(dir: impl Into<PathBuf>) -> StorageBuilder {
        StorageBuilder {
            dir: dir.into(),
            sync: SyncPolicy::EveryPush,
            segment_bytes: 8 << 20,
        }
    }

    /// Opens `dir` with the defaults (see [`StorageBuilder::open`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        Self::builder(dir).open()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.journal.dir
    }

    /// What was found on open, and what is on disk now.
    pub fn stats(&self) -> StorageSnapshot {
        self.journal.stats()
    }

    /// How many items a previous run left, to be queued first.
    pub fn recovered(&self) -> usize {
        self.recovered.len()
    }

    fn open_with(options: StorageBuilder) -> Result<Self, StorageError> {
        let dir = options.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
        let lock = lock(&dir)?;
        let mut names: BTreeMap<u64, (bool, bool)> = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| StorageError::io("list", &dir, e))? {
            let entry = entry.map_err(|e| StorageError::io("list", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = parse_name(name, SEGMENT_EXT) {
                names.entry(id).or_default().0 = true;
            } else if let Some(id) = parse_name(name, ACK_EXT) {
                names.entry(id).or_default().1 = true;
            }
        }
        let mut found = StorageSnapshot::default();
        let mut segments = HashMap::new();
        let mut recovered = Vec::new();
        let mut next_seq = 0;
        for (&id, &(segment, acks)) in &names {
            let seg_path = path_of(&dir, id, SEGMENT_EXT);
            let ack_path = path_of(&dir, id, ACK_EXT);
            if !segment {
                // The segment was deleted but the process stopped before its
                // ack file went.
                remove(&ack_path)?;
                continue;
            }
            let done = if acks {
                read_acks(&ack_path)?
            } else {
                HashSet::new()
            };
            let scan = read_segment(&seg_path, &mut found)?;
            let mut pending = 0;
            for (seq, item) in scan.records {
                next_seq = next_seq.max(seq + 1);
                if done.contains(&seq) {
                    continue;
                }
                pending += 1;
                found.recovered_items += 1;
                found.recovered_bytes += item.body().len() as u64;
                recovered.push((Ticket { segment: id, seq }, item));
            }
            if pending == 0 {
                remove(&seg_path)?;
                remove(&ack_path)?;
                continue;
            }
            found.disk_bytes += scan.len;
            segments.insert(
                id,
                Segment {
                    pending,
                    len: scan.len,
                    sealed: true,
                    acks: None,
                },
            );
        }
        if found.recovered_items > 0 || found.corrupt_records > 0 || found.torn_records > 0 {
            tracing::info!(
                dir = %dir.display(),
                items = found.recovered_items,
                bytes = found.recovered_bytes,
                corrupt = found.corrupt_records,
                torn = found.torn_records,
                "queue storage recovered"
            );
        }
        let next_segment = names.keys().next_back().map_or(0, |id| id + 1);
        let journal = Journal {
            dir,
            sync: options.sync,
            segment_bytes: options.segment_bytes,
            inner: Mutex::new(Inner {
                lock: Some(lock),
                next_seq,
                next_segment,
                active: None,
                segments,
                written: 0,
                unsynced: Vec::new(),
                stats: found,
            }),
            synced: Mutex::new(Synced {
                upto: 0,
                at: Instant::now(),
            }),
        };
        Ok(Storage { journal, recovered })
    }
}

impl std::fmt::Debug for Storage {
    /// The directory and counts, not the recovered bodies.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("dir", &self.journal.dir)
            .field("recovered", &self.recovered.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Where an item is on disk: its segment and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    segment: u64,
    seq: u64,
}

/// The open directory: appends items, marks them done, deletes segments
/// once all their items are done.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    sync: SyncPolicy,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    /// Taken (after `inner`, never before) to flush; concurrent pushes find
    /// their write already flushed by another and skip their own.
    synced: Mutex<Synced>,
}

#[derive(Debug)]
struct Inner {
    /// Holds the directory's lock while open.
    lock: Option<File>,
    next_seq: u64,
    next_segment: u64,
    active: Option<Active>,
    segments: HashMap<u64, Segment>,
    /// Records written in this run: the position a flush covers.
    written: u64,
    /// Segments sealed since the last flush, not flushed yet.
    unsynced: Vec<(File, PathBuf)>,
    stats: StorageSnapshot,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: File,
    path: PathBuf,
}

#[derive(Debug)]
struct Segment {
    /// Records written and not done.
    pending: u64,
    len: u64,
    /// No more records will be written to it.
    sealed: bool,
    acks: Option<File>,
}

#[derive(Debug)]
struct Synced {
    /// Records flushed so far (in [`Inner::written`] units).
    upto: u64,
    at: Instant,
}

impl Journal {
    /// Writes `item` (and flushes it as the policy says); it is recovered on
    /// the next open until [`ack`](Self::ack)ed.
    pub(crate) fn append(&self, item: &Encoded) -> Result<Ticket, StorageError> {
        let (signal, codec, compression) = codes(item)?;
        if u32::try_from(item.body().len()).is_err() {
            return Err(StorageError::TooLarge {
                size: item.body().len(),
            });
        }
        let unsealed = encode_record(signal, codec, compression, item.body());
        let mut inner = self.inner();
        if inner.lock.is_none() {
            return Err(StorageError::Closed);
        }
        let seq = inner.next_seq;
        let record = unsealed.seal(seq);
        let full = inner
            .active
            .as_ref()
            .and_then(|active| inner.segments.get(&active.id))
            .is_none_or(|segment| segment.len >= self.segment_bytes);
        if full {
            self.roll(&mut inner)?;
        }
        let active = inner.active.as_mut().expect("rolled above");
        let id = active.id;
        if let Err(error) = active.file.write_all(&record) {
            let error = StorageError::io("write", &active.path, error);
            // Part of the record may be on disk: start a new segment rather
            // than append after it (the next open skips the part as torn or
            // corrupt).
            self.seal_active(&mut inner);
            return Err(error);
        }
        inner.next_seq += 1;
        inner.written += 1;
        let position = inner.written;
        let segment = inner.segments.get_mut(&id).expect("the active segment");
        segment.pending += 1;
        segment.len += record.len() as u64;
        inner.stats.disk_bytes += record.len() as u64;
        drop(inner);
        self.flush(position)?;
        Ok(Ticket { segment: id, seq })
    }

    /// Whether the next append is likely to flush to disk (and so take
    /// milliseconds): always with [`SyncPolicy::EveryPush`], once the
    /// interval has passed with [`SyncPolicy::Interval`].
    pub(crate) fn flushes(&self) -> bool {
        match self.sync {
            SyncPolicy::EveryPush => true,
            // Someone flushing now: this append will not wait for it.
            SyncPolicy::Interval(every) => self
                .try_synced()
                .is_some_and(|synced| synced.at.elapsed() >= every),
            SyncPolicy::Never => false,
        }
    }

    /// Marks an item done: it will not be recovered. A failure to write the
    /// mark is logged and counted (the item may be sent again after a
    /// restart), not returned: the item's fate is already decided.
    pub(crate) fn ack(&self, ticket: Ticket) {
        let mut inner = self.inner();
        let dir = &self.dir;
        let Some(segment) = inner.segments.get_mut(&ticket.segment) else {
            return;
        };
        segment.pending = segment.pending.saturating_sub(1);
        if segment.pending == 0 && segment.sealed {
            self.delete(&mut inner, ticket.segment);
            return;
        }
        let path = path_of(dir, ticket.segment, ACK_EXT);
        let written = match &mut segment.acks {
            Some(file) => file.write_all(&encode_ack(ticket.seq)),
            None => OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| {
                    file.write_all(&encode_ack(ticket.seq))?;
                    segment.acks = Some(file);
                    Ok(())
                }),
        };
        if let Err(error) = written {
            inner.stats.ack_errors += 1;
            tracing::warn!(
                path = %path.display(),
                %error,
                "cannot mark a queue item done; it may be sent again after a restart"
            );
        }
    }

    /// Flushes what was written, deletes segments whose items are all done,
    /// and releases the directory's lock. What is not done stays for the
    /// next open.
    pub(crate) fn close(&self) {
        let mut inner = self.inner();
        if inner.lock.is_none() {
            return;
        }
        let unsynced = std::mem::take(&mut inner.unsynced);
        let active = inner.active.as_ref().map(|a| (&a.file, &a.path));
        for (file, path) in unsynced.iter().map(|(f, p)| (f, p)).chain(active) {
            if let Err(error) = file.sync_data() {
                tracing::warn!(path = %path.display(), %error, "cannot flush the queue's storage");
            }
        }
        self.seal_active(&mut inner);
        inner.lock = None;
    }

    pub(crate) fn stats(&self) -> StorageSnapshot {
        let inner = self.inner();
        StorageSnapshot {
            segments: inner.segments.len(),
            ..inner.stats
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        crate::lock(&self.inner)
    }

    fn synced(&self) -> MutexGuard<'_, Synced> {
        crate::lock(&self.synced)
    }

    fn try_synced(&self) -> Option<MutexGuard<'_, Synced>> {
        match self.synced.try_lock() {
            Ok(synced) => Some(synced),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Flushes to disk up to `position` as the policy says, sharing the
    /// flush with concurrent appends.
    fn flush(&self, position: u64) -> Result<(), StorageError> {
        let mut synced = match self.sync {
            SyncPolicy::Never => return Ok(()),
            SyncPolicy::EveryPush => self.synced(),
            // Another append flushing now: this one's write waits for the
            // next interval rather than for the disk.
            SyncPolicy::Interval(_) => match self.try_synced() {
                Some(synced) => synced,
                None => return Ok(()),
            },
        };
        match self.sync {
            SyncPolicy::Interval(every) if synced.at.elapsed() < every => return Ok(()),
            SyncPolicy::EveryPush if synced.upto >= position => return Ok(()),
            _ => {}
        }
        // Sealed segments were flushed when sealed, or wait in `unsynced`:
        // with the active one, that covers everything written so far.
        let (upto, files) = {
            let mut inner = self.inner();
            let mut files = std::mem::take(&mut inner.unsynced);
            if let Some(active) = &inner.active {
                let file = active
                    .file
                    .try_clone()
                    .map_err(|e| StorageError::io("flush", &active.path, e))?;
                files.push((file, active.path.clone()));
            }
            (inner.written, files)
        };
        for (file, path) in &files {
            file.sync_data()
                .map_err(|e| StorageError::io("flush", path, e))?;
        }
        synced.upto = upto;
        synced.at = Instant::now();
        Ok(())
    }

    /// Seals the active segment and starts a new one.
    fn roll(&self, inner: &mut Inner) -> Result<(), StorageError> {
        if let Some(active) = &inner.active {
            match self.sync {
                SyncPolicy::EveryPush => active
                    .file
                    .sync_data()
                    .map_err(|e| StorageError::io("flush", &active.path, e))?,
                // Left to the next flush, which may be on a blocking thread
                // where this roll may not be.
                SyncPolicy::Interval(_) => {
                    let file = active
                        .file
                        .try_clone()
                        .map_err(|e| StorageError::io("flush", &active.path, e))?;
                    inner.unsynced.push((file, active.path.clone()));
                }
                SyncPolicy::Never => {}
            }
        }
        self.seal_active(inner);
        let id = inner.next_segment;
        let path = path_of(&self.dir, id, SEGMENT_EXT);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StorageError::io("create", &path, e))?;
        inner.next_segment += 1;
        let mut header = SEGMENT_MAGIC.to_vec();
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        if let Err(error) = file.write_all(&header) {
            let _ = fs::remove_file(&path);
            return Err(StorageError::io("write", &path, error));
        }
        if self.sync != SyncPolicy::Never {
            // The new file's name must survive a machine crash too.
            let _ = File::open(&self.dir).and_then(|dir| dir.sync_all());
        }
        inner.stats.disk_bytes += header.len() as u64;
        inner.segments.insert(
            id,
            Segment {
                pending: 0,
                len: header.len() as u64,
                sealed: false,
                acks: None,
            },
        );
        inner.active = Some(Active { id, file, path });
        Ok(())
    }

    fn seal_active(&self, inner: &mut Inner) {
        let Some(Active { id, .. }) = inner.active.take() else {
            return;
        };
        // The file is closed by now: some systems delete no open file.
        if let Some(segment) = inner.segments.get_mut(&id) {
            segment.sealed = true;
            if segment.pending == 0 {
                self.delete(inner, id);
            }
        }
    }

    fn delete(&self, inner: &mut Inner, id: u64) {
        let Some(segment) = inner.segments.remove(&id) else {
            return;
        };
        drop(segment.acks);
        inner.stats.disk_bytes = inner.stats.disk_bytes.saturating_sub(segment.len);
        // The segment first: an ack file left alone is harmless, and removed
        // on the next open.
        for ext in [SEGMENT_EXT, ACK_EXT] {
            let path = path_of(&self.dir, id, ext);
            if let Err(error) = fs::remove_file(&path)
                && error.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %error, "cannot delete a finished queue segment");
            }
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

const SEGMENT_EXT: &str = "seg";
const ACK_EXT: &str = "ack";
const SEGMENT_MAGIC: &[u8; 8] = b"OTLPQSEG";
const FORMAT_VERSION: u32 = 1;
const SEGMENT_HEADER: usize = 12;
const RECORD_MAGIC: &[u8; 4] = b"OTQR";
/// Magic, checksum, length, sequence number, four code bytes.
const RECORD_HEADER: usize = 24;
const ACK_LEN: usize = 12;

fn path_of(dir: &Path, id: u64, ext: &str) -> PathBuf {
    dir.join(format!("{id:020}.{ext}"))
}

fn parse_name(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn remove(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(StorageError::io("delete", path, error))
        }
        _ => Ok(()),
    }
}

fn lock(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StorageError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StorageError::Locked {
                path: dir.to_owned(),
                pid: text.trim().parse().ok(),
            });
        }
        Err(TryLockError::Error(error)) => return Err(StorageError::io("lock", &path, error)),
    }
    // The pid is for the message a second opener gets; the lock itself is
    // what keeps it out.
    file.set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
        .map_err(|e| StorageError::io("write", &path, e))?;
    Ok(file)
}

fn codes(item: &Encoded) -> Result<(u8, u8, u8), StorageError> {
    let signal = match item.signal() {
        Signal::Traces => 1,
        Signal::Metrics => 2,
        Signal::Logs => 3,
        Signal::Profiles => 4,
    };
    let codec = match item.codec() {
        Codec::Protobuf => 1,
        Codec::Json => 2,
        Codec::MessagePack => 3,
        Codec::Cbor => 4,
        other => return Err(StorageError::UnstorableCodec(other)),
    };
    Ok((signal, codec, item.compression().code()))
}

fn from_codes(signal: u8, codec: u8, compression: u8) -> Option<(Signal, Codec, Compression)> {
    let signal = match signal {
        1 => Signal::Traces,
        2 => Signal::Metrics,
        3 => Signal::Logs,
        4 => Signal::Profiles,
        _ => return None,
    };
    let codec = match codec {
        1 => Codec::Protobuf,
        2 => Codec::Json,
        3 => Codec::MessagePack,
        4 => Codec::Cbor,
        _ => return None,
    };
    Some((signal, codec, Compression::from_code(compression)?))
}

/// A record without its sequence number and checksum, built before the
/// journal's lock is taken: copying and checksumming the body are the costly
/// part.
struct Unsealed {
    record: Vec<u8>,
    body_crc: crc32fast::Hasher,
}

fn encode_record(signal: u8, codec: u8, compression: u8, body: &[u8]) -> Unsealed {
    let mut record = Vec::with_capacity(RECORD_HEADER + body.len());
    record.extend_from_slice(RECORD_MAGIC);
    record.extend_from_slice(&[0; 4]);
    // Bodies over 4 GiB are refused before (`Journal::append`).
    record.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    record.extend_from_slice(&[0; 8]);
    record.extend_from_slice(&[signal, codec, compression, 0]);
    record.extend_from_slice(body);
    let mut body_crc = crc32fast::Hasher::new();
    body_crc.update(body);
    Unsealed { record, body_crc }
}

impl Unsealed {
    /// The record with `seq`, its checksum combined from the header's and
    /// the body's.
    fn seal(mut self, seq: u64) -> Vec<u8> {
        self.record[12..20].copy_from_slice(&seq.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.record[8..RECORD_HEADER]);
        crc.combine(&self.body_crc);
        let crc = crc.finalize();
        self.record[4..8].copy_from_slice(&crc.to_le_bytes());
        self.record
    }
}

/// A record at the start of `bytes`.
enum Parsed {
    /// A good record, `len` bytes long.
    Record {
        seq: u64,
        item: Option<Encoded>,
        len: usize,
    },
    /// The record would end past the end of the data.
    Short,
    /// Wrong magic or checksum.
    Bad,
}

fn parse_record(bytes: &[u8]) -> Parsed {
    if bytes.len() < RECORD_HEADER {
        return Parsed::Short;
    }
    if &bytes[..4] != RECORD_MAGIC {
        return Parsed::Bad;
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let body_len = word(8) as usize;
    let Some(len) = RECORD_HEADER.checked_add(body_len) else {
        return Parsed::Bad;
    };
    if bytes.len() < len {
        return Parsed::Short;
    }
    if crc32(&bytes[8..len]) != word(4) {
        return Parsed::Bad;
    }
    let seq = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let item = from_codes(bytes[20], bytes[21], bytes[22]).map(|(signal, codec, compression)| {
        let body = Bytes::copy_from_slice(&bytes[RECORD_HEADER..len]);
        Encoded::new(signal, codec, compression, body)
    });
    Parsed::Record { seq, item, len }
}

struct Scan {
    records: Vec<(u64, Encoded)>,
    /// The segment's length after any truncation.
    len: u64,
}

/// Reads the good records of a segment, skipping (and counting) damaged
/// stretches and truncating a torn tail.
fn read_segment(path: &Path, found: &mut StorageSnapshot) -> Result<Scan, StorageError> {
    let bytes = fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
    let mut scan = Scan {
        records: Vec::new(),
        len: bytes.len() as u64,
    };
    if bytes.len() < SEGMENT_HEADER {
        // Created, then the process stopped before the header was whole.
        if !SEGMENT_MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            return Err(StorageError::NotASegment {
                path: path.to_owned(),
            });
        }
        return Ok(scan);
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err(StorageError::NotASegment {
            path: path.to_owned(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_owned(),
            version,
        });
    }
    let mut at = SEGMENT_HEADER;
    while at < bytes.len() {
        let short = match parse_record(&bytes[at..]) {
            Parsed::Record { seq, item, len } => {
                match item {
                    Some(item) => scan.records.push((seq, item)),
                    None => {
                        // A good checksum around codes this build does not
                        // know: unusable here, but not to be silently lost.
                        found.corrupt_records += 1;
                        found.corrupt_bytes += len as u64;
                        tracing::error!(path = %path.display(), seq, "queue record with unknown codes skipped");
                    }
                }
                at += len;
                continue;
            }
            Parsed::Short => true,
            Parsed::Bad => false,
        };
        // Resume at the next good record, if any.
        let next = (at + 1..bytes.len()).find(|&candidate| {
            bytes[candidate..].starts_with(RECORD_MAGIC)
                && matches!(parse_record(&bytes[candidate..]), Parsed::Record { .. })
        });
        match next {
            Some(next) => {
                found.corrupt_records += 1;
                found.corrupt_bytes += (next - at) as u64;
                tracing::error!(
                    path = %path.display(),
                    offset = at,
                    bytes = next - at,
                    "damaged queue record(s) skipped"
                );
                at = next;
            }
            None => {
                if short {
                    found.torn_records += 1;
                    tracing::warn!(path = %path.display(), offset = at, "record cut short by a crash truncated");
                } else {
                    found.corrupt_records += 1;
                    found.corrupt_bytes += (bytes.len() - at) as u64;
                    tracing::error!(path = %path.display(), offset = at, "damaged queue record at the end of a segment truncated");
                }
                // So that the next open does not count it again.
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|file| file.set_len(at as u64))
                    .map_err(|e| StorageError::io("truncate", path, e))?;
                scan.len = at as u64;
                break;
            }
        }
    }
    Ok(scan)
}

fn encode_ack(seq: u64) -> [u8; ACK_LEN] {
    let mut ack = [0; ACK_LEN];
    ack[..8].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32(&ack[..8]);
    ack[8..].copy_from_slice(&crc.to_le_bytes());
    ack
}

/// The sequence numbers marked done; a torn or damaged tail is cut off so
/// that the marks appended in this run stay aligned.
fn read_acks(path: &Path) -> Result<HashSet<u64>, StorageError> {
    let bytes = fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
    let mut done = HashSet::new();
    let mut good = 0;
    for ack in bytes.chunks_exact(ACK_LEN) {
        let crc = u32::from_le_bytes(ack[8..].try_into().expect("4 bytes"));
        if crc32(&ack[..8]) != crc {
            break;
        }
        done.insert(u64::from_le_bytes(ack[..8].try_into().expect("8 bytes")));
        good += ACK_LEN;
    }
    if good < bytes.len() {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.set_len(good as u64))
            .map_err(|e| StorageError::io("truncate", path, e))?;
    }
    Ok(done)
}

/// CRC-32 (IEEE, as in gzip and PNG) of `bytes`: crc32fast (already under
/// flate2) runs at memory speed where a table-driven CRC-32C here managed
/// 240 MB/s, 4 ms per MiB.
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn item(signal: Signal, codec: Codec, compression: Compression, body: &[u8]) -> Encoded {
        Encoded::new(signal, codec, compression, Bytes::copy_from_slice(body))
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn records_round_trip_every_code() {
        let mut n = 0;
        for signal in Signal::ALL {
            for codec in Codec::ALL {
                for compression in Compression::ALL {
                    n += 1;
                    let original = item(signal, codec, compression, &[n as u8; 37]);
                    let (s, c, z) = codes(&original).unwrap();
                    let record = encode_record(s, c, z, original.body()).seal(n);
                    assert_eq!(record.len(), RECORD_HEADER + 37);
                    let Parsed::Record { seq, item, len } = parse_record(&record) else {
                        panic!("parses");
                    };
                    assert_eq!((seq, len), (n, record.len()));
                    assert_eq!(item, Some(original));
                }
            }
        }
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_caught() {
        let record = encode_record(1, 1, 0, b"hello, disk").seal(7);
        for cut in 0..record.len() {
            assert!(
                matches!(parse_record(&record[..cut]), Parsed::Short),
                "{cut}"
            );
        }
        for at in 0..record.len() {
            let mut damaged = record.clone();
            damaged[at] ^= 0x10;
            // A flipped length may make the record look short instead.
            assert!(
                !matches!(parse_record(&damaged), Parsed::Record { .. }),
                "{at}"
            );
        }
    }

    #[test]
    fn names_are_twenty_digits_and_an_extension() {
        assert_eq!(
            parse_name("00000000000000000042.seg", SEGMENT_EXT),
            Some(42)
        );
        assert_eq!(parse_name("00000000000000000042.ack", SEGMENT_EXT), None);
        assert_eq!(parse_name("42.seg", SEGMENT_EXT), None);
        assert_eq!(parse_name("lock", ACK_EXT), None);
        let dir = Path::new("/q");
        assert_eq!(
            parse_name(
                path_of(dir, 9, ACK_EXT)
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap(),
                ACK_EXT
            ),
            Some(9)
        );
    }

    #[test]
    fn acks_round_trip_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ack");
        let mut bytes = Vec::new();
        for seq in [3, 5, 8] {
            bytes.extend_from_slice(&encode_ack(seq));
        }
        bytes.extend_from_slice(&encode_ack(13)[..5]);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_acks(&path).unwrap(), HashSet::from([3, 5, 8]));
        assert_eq!(fs::metadata(&path).unwrap().len(), 3 * ACK_LEN as u64);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        /// Marks done the pending item at this index (modulo their number).
        Ack(usize),
        /// Closes the directory and opens it again.
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(Op::Push),
            3 => any::<usize>().prop_map(Op::Ack),
            1 => Just(Op::Reopen),
        ]
    }

    fn open(dir: &Path, segment_bytes: u64, sync: SyncPolicy) -> Storage {
        Storage::builder(dir)
            .segment_bytes(segment_bytes)
            .sync(sync)
            .open()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the order of pushes, acks and restarts, a restart
        /// recovers exactly what was pushed and not acked, in push order,
        /// and nothing is left on disk once everything is done.
        #[test]
        fn reopening_recovers_pushed_minus_acked(
            ops in proptest::collection::vec(op(), 1..60),
            segment_bytes in prop_oneof![Just(1u64), 50u64..400, Just(1u64 << 20)],
            sync in prop_oneof![
                Just(SyncPolicy::Never),
                Just(SyncPolicy::Interval(Duration::ZERO)),
                Just(SyncPolicy::Interval(Duration::from_secs(3600))),
            ],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut storage = open(dir.path(), segment_bytes, sync);
            // (ticket, body) of what is pushed and not acked, in push order.
            let mut pending: Vec<(Ticket, Encoded)> = Vec::new();
            let mut pushed = 0u32;
            for op in ops {
                match op {
                    Op::Push(len) => {
                        pushed += 1;
                        let mut body = pushed.to_le_bytes().to_vec();
                        body.resize(4 + usize::from(len), len);
                        let item = Encoded::new(
                            Signal::ALL[usize::from(len) % 4],
                            Codec::ALL[usize::from(len) % 4],
                            Compression::ALL[usize::from(len) % Compression::ALL.len()],
                            Bytes::from(body),
                        );
                        let ticket = storage.journal.append(&item).unwrap();
                        pending.push((ticket, item));
                    }
                    Op::Ack(index) if !pending.is_empty() => {
                        let (ticket, _) = pending.remove(index % pending.len());
                        storage.journal.ack(ticket);
                    }
                    Op::Ack(_) => {}
                    Op::Reopen => {
                        drop(storage);
                        storage = open(dir.path(), segment_bytes, sync);
                        let recovered: Vec<&Encoded> =
                            storage.recovered.iter().map(|(_, item)| item).collect();
                        let expected: Vec<&Encoded> = pending.iter().map(|(_, item)| item).collect();
                        prop_assert_eq!(recovered, expected);
                        prop_assert_eq!(storage.stats().corrupt_records, 0);
                        pending = std::mem::take(&mut storage.recovered);
                    }
                }
            }
            for (ticket, _) in pending.drain(..) {
                storage.journal.ack(ticket);
            }
            drop(storage);
            let storage = open(dir.path(), segment_bytes, sync);
            prop_assert_eq!(storage.recovered(), 0);
            let left = fs::read_dir(dir.path())
                .unwrap()
                .filter(|entry| entry.as_ref().unwrap().file_name() != "lock")
                .count();
            prop_assert_eq!(left, 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Damage anywhere (flipped bytes, a cut, garbage appended) never
        /// fails the open or panics, and what is recovered is a subsequence
        /// of what was written, each item whole.
        #[test]
        fn damaged_segments_yield_a_subsequence_of_what_was_written(
            lens in proptest::collection::vec(0usize..200, 1..12),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
            cut in proptest::option::of(any::<prop::sample::Index>()),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut written = Vec::new();
            {
                let storage = open(dir.path(), 1 << 20, SyncPolicy::Never);
                for (n, len) in lens.iter().enumerate() {
                    let item = Encoded::new(
                        Signal::Logs,
                        Codec::Json,
                        Compression::Zstd,
                        Bytes::from(vec![n as u8; *len]),
                    );
                    storage.journal.append(&item).unwrap();
                    written.push(item);
                }
            }
            let path = path_of(dir.path(), 0, SEGMENT_EXT);
            let mut bytes = fs::read(&path).unwrap();
            // The segment header stays whole: damage there is a typed error.
            for (at, mask) in flips {
                let at = SEGMENT_HEADER + at.index(bytes.len() - SEGMENT_HEADER);
                bytes[at] ^= mask;
            }
            if let Some(cut) = cut {
                bytes.truncate(SEGMENT_HEADER + cut.index(bytes.len() - SEGMENT_HEADER));
            }
            bytes.extend_from_slice(&garbage);
            fs::write(&path, &bytes).unwrap();
            let storage = open(dir.path(), 1 << 20, SyncPolicy::Never);
            let mut rest = written.iter();
            for (_, item) in &storage.recovered {
                prop_assert!(rest.any(|w| w == item), "{:?} out of order or damaged", item);
            }
        }
    }
}
