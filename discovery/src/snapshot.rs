//! Snapshots of the state on disk, in Sidero's format, so the service keeps its clusters across
//! restarts and a snapshot moves between Sidero's service and this one.
//!
//! The file is a protobuf `StateSnapshot`, written as one `clusters` record (tag 1,
//! length-delimited `ClusterSnapshot`) per cluster: the writer encodes a cluster at a time and the
//! reader decodes a record at a time, so neither holds the whole state twice. Times are stored as
//! the remaining TTL (truncated to seconds, as Sidero) and, for older readers, the absolute
//! expiration; loading sets `expiration = now + ttl`, falling back to the absolute time.
//!
//! Writes are atomic (temporary file, fsync, rename, directory fsync) and the file is 0600. A file
//! that does not decode is renamed aside (`<path>.corrupt-<unix time>`) and the service starts
//! empty rather than refusing to start or overwriting the evidence.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use weft_api::fsutil;

use crate::limits::MAX_SNAPSHOT_RECORD_BYTES;
use crate::state::{Restored, State};

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
                            .map(|(blob, ttl)| pb::EndpointSnapshot {
                                expiration: Some(timestamp(wall + ttl)),
                                data: blob.as_bytes().to_vec(),
                                ttl: Some(seconds(ttl)),
                            })
                            .collect(),
                        ttl: Some(seconds(a.ttl)),
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

/// Loads the snapshot at `path` into a new state (clock starting at `now`). A missing file gives
/// an empty state; a corrupt one is renamed aside, logged, and gives an empty state.
pub fn load(path: &Path, now: Instant, wall: SystemTime) -> Result<(State, LoadReport), LoadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok((State::new(now), LoadReport::default()));
        }
        Err(err) => {
            return Err(LoadError::Io {
                path: path.to_owned(),
                err,
            });
        }
    };
    let state = State::new(now);
    match read_into(&state, BufReader::new(file), now, wall) {
        Ok(report) => Ok((state, report)),
        Err(ReadError::Io(err)) => Err(LoadError::Io {
            path: path.to_owned(),
            err,
        }),
        Err(ReadError::Corrupt(reason)) => {
            let unix = wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".corrupt-{unix}"));
            let aside = PathBuf::from(aside);
            let err = LoadError::Corrupt {
                path: path.to_owned(),
                reason,
            };
            match fs::rename(path, &aside) {
                Ok(()) => {
                    tracing::error!(error = %err, moved_to = %aside.display(), "snapshot is corrupt; set it aside and starting empty");
                }
                Err(rename_err) => {
                    tracing::error!(error = %err, %rename_err, "snapshot is corrupt and could not be set aside; starting empty");
                }
            }
            // Anything restored before the bad record is dropped: a half state would look whole.
            Ok((
                State::new(now),
                LoadReport {
                    set_aside: Some(aside),
                    ..LoadReport::default()
                },
            ))
        }
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

fn read_into(
    state: &State,
    mut input: impl Read,
    now: Instant,
    wall: SystemTime,
) -> Result<LoadReport, ReadError> {
    let mut report = LoadReport::default();
    let mut record = Vec::new();
    while let Some(key) = read_varint(&mut input, true)? {
        let wire_type = key & 7;
        let field = key >> 3;
        if field == 0 {
            return Err(ReadError::Corrupt("field number 0".to_owned()));
        }
        if key != CLUSTERS_KEY {
            // Another field of a newer StateSnapshot: skip it, as protobuf readers do.
            skip_field(&mut input, wire_type)?;
            continue;
        }
        let len = read_varint(&mut input, false)?.unwrap_or_default();
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_SNAPSHOT_RECORD_BYTES)
            .ok_or_else(|| {
                ReadError::Corrupt(format!(
                    "cluster record of {len} bytes, at most {MAX_SNAPSHOT_RECORD_BYTES} allowed"
                ))
            })?;
        record.resize(len, 0);
        input.read_exact(&mut record)?;
        let cluster = pb::ClusterSnapshot::decode(record.as_slice())
            .map_err(|e| ReadError::Corrupt(format!("cluster record: {e}")))?;
        report.clusters += 1;
        for a in cluster.affiliates {
            let Some(ttl) = remaining(a.ttl.as_ref(), a.expiration.as_ref(), wall) else {
                report.skipped += 1;
                continue;
            };
            let endpoints = a
                .endpoints
                .into_iter()
                .filter_map(|e| {
                    remaining(e.ttl.as_ref(), e.expiration.as_ref(), wall).map(|t| (e.data, t))
                })
                .collect();
            let restored = Restored {
                id: a.id,
                data: a.data,
                ttl,
                endpoints,
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
    Ok(report)
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
                let endpoints = vec![vec![a as u8; 16], vec![c as u8; 32]];
                state
                    .update(
                        &format!("cluster-{c}"),
                        &format!("affiliate-{a}"),
                        Update {
                            data: format!("data {c} {a}").as_bytes(),
                            endpoints: &endpoints,
                            ttl: TTL,
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
        let (loaded, report) = load(&path, t1, wall).expect("load");
        assert_eq!(report.clusters, 3);
        assert_eq!(report.affiliates, 15);
        assert_eq!(report.skipped, 0);
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
        let (state, report) =
            load(&dir.path().join("none"), Instant::now(), SystemTime::now()).expect("load");
        assert_eq!(report, LoadReport::default());
        assert_eq!(state.counts().clusters, 0);
    }

    #[test]
    fn corrupt_file_is_set_aside_and_the_state_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.binpb");
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        write(&filled(t0), &path, t0, wall).expect("write");
        let mut bytes = fs::read(&path).expect("read");
        let good = bytes.len();
        // Truncated in the middle of the last record: the first records decode, the last does not.
        bytes.truncate(good - 5);
        fs::write(&path, &bytes).expect("write");
        let (state, report) = load(&path, t0, wall).expect("load");
        assert_eq!(state.counts().affiliates, 0, "no half state");
        let aside = dir.path().join("state.binpb.corrupt-1700000000");
        assert_eq!(report.set_aside.as_deref(), Some(aside.as_path()));
        assert!(!path.exists());
        assert_eq!(fs::read(&aside).expect("kept"), bytes);

        for garbage in [
            &b"\x0a\xff\xff\xff\xff\x0f"[..], // a record longer than the limit
            b"\x0a\x05\x0a\x03ab",            // a record whose content is cut
            b"\x0f",                          // wire type 7
            b"\x0a\x03\xff\xff\xff",          // a record that is not a ClusterSnapshot
        ] {
            fs::write(&path, garbage).expect("write");
            let (state, report) = load(&path, t0, wall).expect("load");
            assert!(report.set_aside.is_some(), "{garbage:?}");
            assert_eq!(state.counts().clusters, 0);
        }
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
                            },
                            pb::EndpointSnapshot {
                                expiration: Some(ts(-1)),
                                data: vec![2; 16],
                                ttl: None,
                            },
                        ],
                        ttl: None,
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
        let (state, report) = load(&path, t0, wall).expect("load");
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
