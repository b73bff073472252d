//! Snapshots of the state on disk, in Sidero's format, so the service keeps its clusters across
//! restarts and a snapshot moves between Sidero's service and this one.
//!
//! The file is a protobuf `StateSnapshot`, written as one `clusters` record (tag 1,
//! length-delimited `ClusterSnapshot`) per cluster: the writer encodes a cluster at a time and the
//! reader decodes a record at a time, so neither holds the whole state twice. Times are stored as
//! the remaining TTL (truncated to seconds, as Sidero) and, for older readers, the absolute
//! expiration; loading sets `expiration = now + ttl`, falling back to the absolute time.
//!
//! Weft adds two fields Sidero's reader skips (field 1000): the owner token's hash of an owned
//! affiliate, and which endpoints its owner sent. Snapshots without them load as unowned.
//!
//! Writes are atomic (temporary file, fsync, rename, directory fsync) and the file is 0600. A
//! write interrupted by a crash leaves its temporary file behind: [`remove_leftovers`] deletes
//! them at start. A file that does not decode all the way (cut short by a full disk, damaged) keeps
//! every complete cluster record before the damage — clients refresh the rest within their TTL —
//! and is renamed aside (`<path>.corrupt-<unix time>`) rather than refusing to start or
//! overwriting the evidence.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use weft_api::fsutil;

use crate::limits::{MAX_SNAPSHOT_RECORD_BYTES, OWNER_TOKEN_LEN};
use crate::state::{Caps, Restored, RestoredEndpoint, State};

/// `sidero.discovery.storage`: the snapshot messages.
#[allow(missing_debug_implementations, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/sidero.discovery.storage.rs"));
}

/// Mode of the snapshot file: it holds only ciphertext, but nobody else needs to read it.
pub const SNAPSHOT_FILE_MODE: u32 = 0o600;
/// The `StateSnapshot.clusters` field: number 1, length-delimited.
const CLUSTERS_KEY: u64 = (1 << 3) | 2;

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file exists but could not be read (permissions, I/O error): not set aside, since the
    /// data may be fine.
    #[error("reading {path}: {err}")]
    Io { path: PathBuf, err: io::Error },
    /// The file does not decode.
    #[error("{path} is not a valid snapshot: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// What a load found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub clusters: usize,
    pub affiliates: usize,
    /// Affiliates not restored: expired, or breaking a limit.
    pub skipped: usize,
    /// Where a corrupt file was moved, if it was.
    pub set_aside: Option<PathBuf>,
    /// A corrupt file: the byte offset of the first record that did not decode (everything
    /// before it was restored and is counted above), and why.
    pub damaged_at: Option<(u64, String)>,
}

/// Temporary files of interrupted snapshot writes, removed by [`remove_leftovers`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub files: usize,
    pub bytes: u64,
}

/// Removes the temporary files that writes of the snapshot at `path` left behind when the process
/// died mid-write (`.<name>.<pid>.<16 hex digits>.tmp` next to it, as `fsutil` names them), so
/// repeated crashes cannot fill the disk. Run at start, before any write of this process.
pub fn remove_leftovers(path: &Path) -> io::Result<Leftovers> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Leftovers::default());
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Leftovers::default()),
        Err(err) => return Err(err),
    };
    let mut removed = Leftovers::default();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !is_leftover(name, file_name) {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        fs::remove_file(entry.path())?;
        removed.files += 1;
        removed.bytes += size;
    }
    Ok(removed)
}

/// Whether `candidate` is a temporary file of a write of `name`: `.<name>.<pid>.<16 hex>.tmp`.
fn is_leftover(name: &str, candidate: &str) -> bool {
    let Some(rest) = candidate
        .strip_prefix('.')
        .and_then(|c| c.strip_prefix(name))
        .and_then(|c| c.strip_prefix('.'))
        .and_then(|c| c.strip_suffix(".tmp"))
    else {
        return false;
    };
    let Some((pid, nonce)) = rest.split_once('.') else {
        return false;
    };
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && nonce.len() == 16
        && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Writes the state to `path` atomically and returns the file's size.
pub fn write(state: &State, path: &Path, now: Instant, wall: SystemTime) -> io::Result<u64> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut size = 0u64;
    fsutil::write_atomic_with(path, SNAPSHOT_FILE_MODE, |file| {
        let mut out = BufWriter::new(file);
        let mut record = Vec::new();
        state.export(now, |cluster| {
            let message = pb::ClusterSnapshot {
                id: cluster.id.into(),
                affiliates: cluster
                    .affiliates
                    .into_iter()
                    .map(|a| pb::AffiliateSnapshot {
                        id: a.id.into(),
                        expiration: Some(timestamp(wall + a.ttl)),
                        data: a.data.to_vec(),
                        endpoints: a
                            .endpoints
                            .into_iter()
                            .map(|e| pb::EndpointSnapshot {
                                expiration: Some(timestamp(wall + e.ttl)),
                                data: e.blob.as_bytes().to_vec(),
                                ttl: Some(seconds(e.ttl)),
                                weft_owned: e.owned,
                            })
                            .collect(),
                        ttl: Some(seconds(a.ttl)),
                        weft_owner_hash: a.owner.map(|h| h.to_vec()).unwrap_or_default(),
                    })
                    .collect(),
            };
            record.clear();
            prost::encoding::encode_varint(CLUSTERS_KEY, &mut record);
            message
                .encode_length_delimited(&mut record)
                .map_err(io::Error::other)?;
            size += record.len() as u64;
            out.write_all(&record)
        })?;
        out.flush()
    })?;
    Ok(size)
}

/// Loads the snapshot at `path` into a new state (clock starting at `now`, global `caps`). A
/// missing file gives an empty state; a damaged one gives what its complete records before the
/// damage hold, and is renamed aside and logged.
pub fn load(
    path: &Path,
    caps: Caps,
    now: Instant,
    wall: SystemTime,
) -> Result<(State, LoadReport), LoadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok((State::with_caps(now, caps), LoadReport::default()));
        }
        Err(err) => {
            return Err(LoadError::Io {
                path: path.to_owned(),
                err,
            });
        }
    };
    let state = State::with_caps(now, caps);
    let mut report = LoadReport::default();
    let mut input = Counting {
        inner: BufReader::new(file),
        offset: 0,
    };
    match read_into(&state, &mut input, now, wall, &mut report) {
        Ok(()) => Ok((state, report)),
        Err((_, ReadError::Io(err))) => Err(LoadError::Io {
            path: path.to_owned(),
            err,
        }),
        Err((offset, ReadError::Corrupt(reason))) => {
            let unix = wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".corrupt-{unix}"));
            let aside = PathBuf::from(aside);
            let err = LoadError::Corrupt {
                path: path.to_owned(),
                reason: format!("{reason} at byte {offset}"),
            };
            // Every record before the damage was whole (each is read entirely before it is
            // decoded), so what it held is kept: clients refresh whatever was lost within their
            // TTL, which beats starting empty.
            match fs::rename(path, &aside) {
                Ok(()) => {
                    tracing::error!(
                        error = %err,
                        moved_to = %aside.display(),
                        recovered_clusters = report.clusters,
                        recovered_affiliates = report.affiliates,
                        "snapshot is damaged; kept every complete record before the damage and set the file aside"
                    );
                }
                Err(rename_err) => {
                    tracing::error!(
                        error = %err,
                        %rename_err,
                        recovered_clusters = report.clusters,
                        recovered_affiliates = report.affiliates,
                        "snapshot is damaged and could not be set aside; kept every complete record before the damage"
                    );
                }
            }
            report.set_aside = Some(aside);
            report.damaged_at = Some((offset, reason));
            Ok((state, report))
        }
    }
}

/// A reader that counts the bytes read, to say where a snapshot is damaged.
struct Counting<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

#[derive(Debug)]
enum ReadError {
    Io(io::Error),
    Corrupt(String),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Corrupt("truncated".to_owned())
        } else {
            ReadError::Io(err)
        }
    }
}

/// Reads records into `state`, counting them in `report`; on error, the offset where the record
/// that failed began.
fn read_into(
    state: &State,
    input: &mut Counting<impl Read>,
    now: Instant,
    wall: SystemTime,
    report: &mut LoadReport,
) -> Result<(), (u64, ReadError)> {
    let mut record = Vec::new();
    loop {
        let start = input.offset;
        match read_record(input, &mut record) {
            Ok(Some(cluster)) => restore_cluster(state, cluster, now, wall, report),
            Ok(None) => return Ok(()),
            Err(err) => return Err((start, err)),
        }
    }
}

/// The next cluster record (skipping fields of a newer StateSnapshot); `None` at a clean end.
fn read_record(
    input: &mut impl Read,
    record: &mut Vec<u8>,
) -> Result<Option<pb::ClusterSnapshot>, ReadError> {
    while let Some(key) = read_varint(input, true)? {
        let wire_type = key & 7;
        let field = key >> 3;
        if field == 0 {
            return Err(ReadError::Corrupt("field number 0".to_owned()));
        }
        if key != CLUSTERS_KEY {
            // Another field of a newer StateSnapshot: skip it, as protobuf readers do.
            skip_field(input, wire_type)?;
            continue;
        }
        let len = read_varint(input, false)?.unwrap_or_default();
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_SNAPSHOT_RECORD_BYTES)
            .ok_or_else(|| {
                ReadError::Corrupt(format!(
                    "cluster record of {len} bytes, at most {MAX_SNAPSHOT_RECORD_BYTES} allowed"
                ))
            })?;
        record.resize(len, 0);
        input.read_exact(record)?;
        return pb::ClusterSnapshot::decode(record.as_slice())
            .map(Some)
            .map_err(|e| ReadError::Corrupt(format!("cluster record: {e}")));
    }
    Ok(None)
}

fn restore_cluster(
    state: &State,
    cluster: pb::ClusterSnapshot,
    now: Instant,
    wall: SystemTime,
    report: &mut LoadReport,
) {
    report.clusters += 1;
    for a in cluster.affiliates {
        let Some(ttl) = remaining(a.ttl.as_ref(), a.expiration.as_ref(), wall) else {
            report.skipped += 1;
            continue;
        };
        let owner = match a.weft_owner_hash.len() {
            0 => None,
            OWNER_TOKEN_LEN => {
                let mut hash = [0; OWNER_TOKEN_LEN];
                hash.copy_from_slice(&a.weft_owner_hash);
                Some(hash)
            }
            len => {
                tracing::warn!(
                    len,
                    "snapshot: skipped an affiliate with a malformed owner hash"
                );
                report.skipped += 1;
                continue;
            }
        };
        let endpoints = a
            .endpoints
            .into_iter()
            .filter_map(|e| {
                remaining(e.ttl.as_ref(), e.expiration.as_ref(), wall).map(|ttl| RestoredEndpoint {
                    data: e.data,
                    ttl,
                    owned: e.weft_owned,
                })
            })
            .collect();
        let restored = Restored {
            id: a.id,
            data: a.data,
            ttl,
            endpoints,
            owner,
        };
        match state.restore(&cluster.id, restored, now) {
            Ok(()) => report.affiliates += 1,
            Err(err) => {
                tracing::warn!(%err, "snapshot: skipped an affiliate");
                report.skipped += 1;
            }
        }
    }
}

/// Remaining time to live from the stored TTL, else from the absolute expiration; `None` when
/// already expired or unknown.
fn remaining(
    ttl: Option<&prost_types::Duration>,
    expiration: Option<&prost_types::Timestamp>,
    wall: SystemTime,
) -> Option<Duration> {
    let left = match (ttl, expiration) {
        (Some(ttl), _) => {
            let secs = u64::try_from(ttl.seconds).ok()?;
            let nanos = u32::try_from(ttl.nanos)
                .ok()
                .filter(|n| *n < 1_000_000_000)?;
            Duration::new(secs, nanos)
        }
        (None, Some(exp)) => {
            let secs = u64::try_from(exp.seconds).ok()?;
            let nanos = u32::try_from(exp.nanos)
                .ok()
                .filter(|n| *n < 1_000_000_000)?;
            let at = UNIX_EPOCH.checked_add(Duration::new(secs, nanos))?;
            at.duration_since(wall).ok()?
        }
        (None, None) => return None,
    };
    (!left.is_zero()).then_some(left)
}

fn seconds(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: 0,
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// Reads a base-128 varint; `Ok(None)` at a clean end of input when `eof_ok`.
fn read_varint(input: &mut impl Read, eof_ok: bool) -> Result<Option<u64>, ReadError> {
    let mut value = 0u64;
    for i in 0..10 {
        let mut byte = [0u8];
        if input.read(&mut byte)? == 0 {
            if i == 0 && eof_ok {
                return Ok(None);
            }
            return Err(ReadError::Corrupt("truncated".to_owned()));
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(ReadError::Corrupt("varint longer than 10 bytes".to_owned()))
}

fn skip_field(input: &mut impl Read, wire_type: u64) -> Result<(), ReadError> {
    let len = match wire_type {
        0 => {
            read_varint(input, false)?;
            return Ok(());
        }
        1 => 8,
        2 => read_varint(input, false)?.unwrap_or_default(),
        5 => 4,
        other => return Err(ReadError::Corrupt(format!("wire type {other}"))),
    };
    if len > MAX_SNAPSHOT_RECORD_BYTES as u64 {
        return Err(ReadError::Corrupt(format!("field of {len} bytes")));
    }
    let copied = io::copy(&mut input.by_ref().take(len), &mut io::sink())?;
    if copied != len {
        return Err(ReadError::Corrupt("truncated".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Update;

    const TTL: Duration = Duration::from_secs(600);

    fn filled(now: Instant) -> State {
        let state = State::new(now);
        for c in 0..3 {
            for a in 0..5 {
                let endpoints = vec![vec![a; 16], vec![c as u8; 32]];
                state
                    .update(
                        &format!("cluster-{c}"),
                        &format!("affiliate-{a}"),
                        Update {
                            data: format!("data {c} {a}").as_bytes(),
                            endpoints: &endpoints,
                            ttl: TTL,
                            // Every other affiliate is owned.
                            owner: a.is_multiple_of(2).then_some([a; OWNER_TOKEN_LEN]),
                        },
                        now,
                    )
                    .expect("update");
            }
        }
        state
    }

    fn sorted(state: &State, cluster: &str) -> Vec<crate::state::AffiliateView> {
        let mut list = state.list(cluster).expect("list");
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    #[test]
    fn round_trip_keeps_affiliates_and_remaining_ttl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/state.binpb");
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let state = filled(t0);
        let size = write(&state, &path, t0 + Duration::from_secs(100), wall).expect("write");
        assert_eq!(fs::metadata(&path).expect("stat").len(), size);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o600
        );
        // The file is a valid StateSnapshot as a whole, too.
        let whole = pb::StateSnapshot::decode(fs::read(&path).expect("read").as_slice())
            .expect("decodes as one message");
        assert_eq!(whole.clusters.len(), 3);
        assert_eq!(
            whole.clusters[0].affiliates[0].ttl,
            Some(prost_types::Duration {
                seconds: 500,
                nanos: 0
            })
        );

        let t1 = Instant::now();
        let (loaded, report) = load(&path, Caps::default(), t1, wall).expect("load");
        assert_eq!(report.clusters, 3);
        assert_eq!(report.affiliates, 15);
        assert_eq!(report.skipped, 0);
        assert_eq!(report.damaged_at, None);
        // Owned affiliates stay owned, with their owners' endpoints marked.
        let mut owners = Vec::new();
        loaded
            .export(t1, |c| {
                for a in c.affiliates {
                    owners.push((a.id.to_string(), a.owner, a.endpoints[0].owned));
                }
                Ok::<(), ()>(())
            })
            .expect("export");
        owners.sort();
        assert_eq!(owners.len(), 15);
        for (id, owner, first_owned) in owners {
            let a: u8 = id.trim_start_matches("affiliate-").parse().expect("n");
            let want = a.is_multiple_of(2).then_some([a; OWNER_TOKEN_LEN]);
            assert_eq!(owner, want, "{id}");
            assert_eq!(first_owned, want.is_some(), "{id}");
        }
        for c in 0..3 {
            let id = format!("cluster-{c}");
            assert_eq!(sorted(&loaded, &id), sorted(&state, &id));
        }
        assert_eq!(loaded.counts(), state.counts());
        // Remaining TTL was 500 s.
        assert_eq!(loaded.gc(t1 + Duration::from_secs(499)).affiliates, 0);
        assert_eq!(loaded.gc(t1 + Duration::from_secs(501)).affiliates, 15);
    }

    #[test]
    fn missing_file_is_an_empty_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, report) = load(
            &dir.path().join("none"),
            Caps::default(),
            Instant::now(),
            SystemTime::now(),
        )
        .expect("load");
        assert_eq!(report, LoadReport::default());
        assert_eq!(state.counts().clusters, 0);
    }

    #[test]
    fn a_damaged_file_keeps_its_complete_records_and_is_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.binpb");
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        write(&filled(t0), &path, t0, wall).expect("write");
        let mut bytes = fs::read(&path).expect("read");
        let good = bytes.len();
        // Cut in the middle of the last record (a full disk, a crash of the disk itself): the
        // first two clusters are whole and come back; the third is lost.
        bytes.truncate(good - 5);
        fs::write(&path, &bytes).expect("write");
        let (state, report) = load(&path, Caps::default(), t0, wall).expect("load");
        assert_eq!(report.clusters, 2);
        assert_eq!(report.affiliates, 10);
        assert_eq!(state.counts().affiliates, 10, "every complete record kept");
        let (at, reason) = report.damaged_at.clone().expect("damage reported");
        assert_eq!(reason, "truncated");
        assert_eq!(at, good as u64 * 2 / 3, "the third of three equal records");
        let aside = dir.path().join("state.binpb.corrupt-1700000000");
        assert_eq!(report.set_aside.as_deref(), Some(aside.as_path()));
        assert!(!path.exists());
        assert_eq!(fs::read(&aside).expect("kept"), bytes);

        for (garbage, kept) in [
            (&b"\x0a\xff\xff\xff\xff\x0f"[..], 0), // a record longer than the limit
            (b"\x0a\x05\x0a\x03ab", 0),            // a record whose content is cut
            (b"\x0f", 0),                          // wire type 7
            (b"\x0a\x03\xff\xff\xff", 0),          // a record that is not a ClusterSnapshot
        ] {
            fs::write(&path, garbage).expect("write");
            let (state, report) = load(&path, Caps::default(), t0, wall).expect("load");
            assert!(report.set_aside.is_some(), "{garbage:?}");
            assert_eq!(report.damaged_at.map(|(at, _)| at), Some(0));
            assert_eq!(state.counts().clusters, kept);
        }
    }

    #[test]
    fn leftover_temporary_files_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.binpb");
        let leftovers = [
            ".state.binpb.4242.0123456789abcdef.tmp",
            ".state.binpb.1.fedcba9876543210.tmp",
        ];
        let others = [
            "state.binpb",
            ".other.binpb.4242.0123456789abcdef.tmp",
            ".state.binpb.x.0123456789abcdef.tmp",
            ".state.binpb.4242.0123.tmp",
            "state.binpb.corrupt-1700000000",
            ".state.binpb.4242.0123456789abcdef.tmp.keep",
        ];
        for name in leftovers.iter().chain(&others) {
            fs::write(dir.path().join(name), b"12345").expect("write");
        }
        let removed = remove_leftovers(&path).expect("remove");
        assert_eq!(
            removed,
            Leftovers {
                files: 2,
                bytes: 10
            }
        );
        for name in leftovers {
            assert!(!dir.path().join(name).exists(), "{name}");
        }
        for name in others {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        // A missing directory is nothing to clean.
        assert_eq!(
            remove_leftovers(&dir.path().join("none/state.binpb")).expect("ok"),
            Leftovers::default()
        );
        // What a real write leaves when it is interrupted is recognised.
        let fresh = tempfile::tempdir().expect("tempdir");
        let dummy = fresh.path().join("state.binpb");
        let _ = fsutil::write_atomic_with(&dummy, SNAPSHOT_FILE_MODE, |f| {
            f.write_all(b"partial")?;
            let tmp = fs::read_dir(fresh.path())?
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.ends_with(".tmp"))
                .expect("the write's temporary file");
            assert!(is_leftover("state.binpb", &tmp), "{tmp}");
            Err(io::Error::other("interrupted"))
        });
    }

    #[test]
    fn ttl_falls_back_to_absolute_expiration_and_unknown_fields_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.binpb");
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ts = |s: i64| prost_types::Timestamp {
            seconds: 1_700_000_000 + s,
            nanos: 0,
        };
        let snapshot = pb::StateSnapshot {
            clusters: vec![pb::ClusterSnapshot {
                id: "c".into(),
                affiliates: vec![
                    pb::AffiliateSnapshot {
                        id: "old-format".into(),
                        expiration: Some(ts(120)),
                        data: b"x".to_vec(),
                        endpoints: vec![
                            pb::EndpointSnapshot {
                                expiration: Some(ts(60)),
                                data: vec![1; 16],
                                ttl: None,
                                weft_owned: false,
                            },
                            pb::EndpointSnapshot {
                                expiration: Some(ts(-1)),
                                data: vec![2; 16],
                                ttl: None,
                                weft_owned: false,
                            },
                        ],
                        ttl: None,
                        weft_owner_hash: Vec::new(),
                    },
                    pb::AffiliateSnapshot {
                        id: "expired".into(),
                        expiration: Some(ts(-10)),
                        ..Default::default()
                    },
                    pb::AffiliateSnapshot {
                        id: "too-much-data".into(),
                        data: vec![0; 4096],
                        ttl: Some(prost_types::Duration {
                            seconds: 60,
                            nanos: 0,
                        }),
                        ..Default::default()
                    },
                ],
            }],
        };
        let mut bytes = snapshot.encode_to_vec();
        // A field a newer writer might add (field 2, varint) is skipped.
        bytes.extend_from_slice(&[0x10, 0x96, 0x01]);
        fs::write(&path, &bytes).expect("write");
        let t0 = Instant::now();
        let (state, report) = load(&path, Caps::default(), t0, wall).expect("load");
        assert_eq!(report.affiliates, 1);
        assert_eq!(report.skipped, 2);
        let list = state.list("c").expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].endpoints.len(),
            1,
            "the expired endpoint is dropped"
        );
        assert_eq!(state.gc(t0 + Duration::from_secs(60)).endpoints, 1);
        assert_eq!(state.gc(t0 + Duration::from_secs(119)).affiliates, 0);
        assert_eq!(state.gc(t0 + Duration::from_secs(121)).affiliates, 1);
    }
}
