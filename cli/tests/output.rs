//! The `weftctl get` writers over fixture resources: snapshots of every format, listing and
//! watching, plus byte-exact checks against the talosctl examples in the KubeSpan reference (§8).

use std::collections::BTreeMap;
use std::io;

use time::OffsetDateTime;
use weft_api::resource::{EventKind, Metadata, Phase, Resource, ResourceDefinition};
use weftctl::output::{Format, OutputError, Writer};

const KEY_A: &str = "+Bzm83Tw0Wb6mf8sVAyeqnPbYmFfnsAXkX9Kr4MHgXY=";
const KEY_B: &str = "Kx7dnqyLBQMa3Xk5pDyRAGxUbfJxPxVx6tUeWvG0QkM=";
const KEY_C: &str = "pIWVQq0Hq2FLrhzfzaJ6f2qS0Q2hcaTAHE1vKCCBq0Q=";

/// 2026-01-01T10:00:00Z plus `minutes`.
fn at(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_261_600 + minutes * 60).expect("fixture time")
}

fn statuses() -> ResourceDefinition {
    ResourceDefinition::new("KubeSpanPeerStatuses", "KubeSpanPeerStatus", "kubespan")
        .column("LABEL", "{.label}")
        .column("ENDPOINT", "{.endpoint}")
        .column("STATE", "{.state}")
        .column("RX", "{.receiveBytes}")
        .column("TX", "{.transmitBytes}")
}

fn specs() -> ResourceDefinition {
    ResourceDefinition::new("KubeSpanPeerSpecs", "KubeSpanPeerSpec", "kubespan")
        .column("LABEL", "{.label}")
        .column("ENDPOINTS", "{.endpoints}")
}

fn resource(resource_type: &str, id: &str, version: u64, owner: &str, spec_yaml: &str) -> Resource {
    Resource {
        metadata: Metadata {
            namespace: "kubespan".to_owned(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version,
            owner: owner.to_owned(),
            phase: Phase::Running,
            created: at(0),
            updated: at(5),
            labels: BTreeMap::new(),
        },
        spec: yaml_serde::from_str(spec_yaml).expect("fixture spec"),
    }
}

fn status(id: &str, version: u64, spec_yaml: &str) -> Resource {
    resource(
        "KubeSpanPeerStatuses.kubespan.weft.dev",
        id,
        version,
        "kubespan.ManagerController",
        spec_yaml,
    )
}

const UP: &str = "\
endpoint: 172.20.0.3:51820
label: talos-default-controlplane-2
state: up
receiveBytes: 1234
transmitBytes: 5678
lastHandshakeTime: 2026-01-01T10:04:51.123456789Z
lastUsedEndpoint: 172.20.0.3:51820
lastEndpointChange: 2026-01-01T10:00:02.5Z
";

const UNKNOWN: &str = "\
endpoint: ''
label: talos-default-worker-1
state: unknown
receiveBytes: 0
transmitBytes: 0
lastHandshakeTime: 0001-01-01T00:00:00Z
lastUsedEndpoint: '[2001:db8::7]:51820'
lastEndpointChange: 2026-01-01T10:03:00Z
";

const DOWN: &str = "\
endpoint: 172.20.0.2:51820
label: talos-default-controlplane-1
state: down
receiveBytes: 98765432
transmitBytes: 123
lastHandshakeTime: 2026-01-01T09:50:00Z
lastUsedEndpoint: 172.20.0.2:51820
lastEndpointChange: 2026-01-01T09:45:00Z
";

/// Two peers seen from node 172.20.0.2, one from 172.20.0.3 (with labels).
fn listing() -> Vec<(&'static str, Resource)> {
    let mut labeled = status(KEY_C, 12, DOWN);
    labeled
        .metadata
        .labels
        .insert("weft.dev/peer".to_owned(), "controlplane-1".to_owned());
    labeled
        .metadata
        .labels
        .insert("weft.dev/zone".to_owned(), "2".to_owned());
    vec![
        ("172.20.0.2", status(KEY_A, 5, UP)),
        ("172.20.0.2", status(KEY_B, 1, UNKNOWN)),
        ("172.20.0.3", labeled),
    ]
}

/// A list as `weftctl get` prints it: header, every resource, one flush at the end.
fn render_list(
    format: &str,
    definition: &ResourceDefinition,
    items: &[(&str, Resource)],
) -> String {
    let mut writer = Writer::new(format, Vec::new()).expect("format");
    writer.write_header(definition, false).expect("header");
    for (node, r) in items {
        writer.write_resource(node, r, None).expect("resource");
    }
    String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8")
}

/// A watch: the bootstrap list arrives as `created` events and is flushed once, then every
/// later event is flushed on its own, as talosctl does.
fn render_watch(format: &str) -> String {
    let mut writer = Writer::new(format, Vec::new()).expect("format");
    writer.write_header(&statuses(), true).expect("header");
    for (node, r) in listing().iter().take(2) {
        writer
            .write_resource(node, r, Some(EventKind::Created))
            .expect("bootstrap");
    }
    writer.flush().expect("bootstrapped");
    let mut updated = status(KEY_B, 2, UP);
    updated.metadata.updated = at(7);
    let events = [
        ("172.20.0.2", updated, EventKind::Updated),
        ("172.20.0.3", status(KEY_C, 1, DOWN), EventKind::Created),
        ("172.20.0.2", status(KEY_A, 6, UP), EventKind::Destroyed),
    ];
    for (node, r, kind) in &events {
        writer.write_resource(node, r, Some(*kind)).expect("event");
        writer.flush().expect("flush");
    }
    String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8")
}

#[test]
fn table_list() {
    insta::assert_snapshot!("table_list", render_list("table", &statuses(), &listing()));
}

#[test]
fn table_watch() {
    insta::assert_snapshot!("table_watch", render_watch("table"));
}

#[test]
fn table_list_column_is_compact_json() {
    let spec = resource(
        "KubeSpanPeerSpecs.kubespan.weft.dev",
        KEY_A,
        2,
        "kubespan.PeerSpecController",
        "address: fd7f:175a:b97c:5602:e4a8:ff:fe12:3456\n\
         allowedIPs: [fd7f:175a:b97c:5602:e4a8:ff:fe12:3456/128, 10.244.1.0/24]\n\
         endpoints: [172.20.0.3:51820, 212.58.102.158:51820]\n\
         label: talos-default-controlplane-2\n",
    );
    let no_endpoints = resource(
        "KubeSpanPeerSpecs.kubespan.weft.dev",
        KEY_B,
        1,
        "kubespan.PeerSpecController",
        "label: worker-1\n",
    );
    let out = render_list(
        "table",
        &specs(),
        &[("172.20.0.2", spec), ("172.20.0.2", no_endpoints)],
    );
    // The row of the reference's example (PR #6510), byte for byte; a missing list is empty.
    assert_eq!(
        out,
        format!(
            "NODE         NAMESPACE   TYPE               ID                                             VERSION   LABEL                          ENDPOINTS\n\
             172.20.0.2   kubespan    KubeSpanPeerSpec   {KEY_A}   2         talos-default-controlplane-2   [\"172.20.0.3:51820\",\"212.58.102.158:51820\"]\n\
             172.20.0.2   kubespan    KubeSpanPeerSpec   {KEY_B}   1         worker-1                       \n"
        )
    );
}

#[test]
fn table_without_columns_or_header() {
    // No header: no print columns, and TYPE falls back to the full type.
    let mut writer = Writer::new("table", Vec::new()).expect("format");
    writer
        .write_resource("n1", &status("id", 1, UP), None)
        .expect("resource");
    let out = String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8");
    assert_eq!(
        out,
        "n1   kubespan   KubeSpanPeerStatuses.kubespan.weft.dev   id   1\n"
    );
}

#[test]
fn yaml_list() {
    insta::assert_snapshot!("yaml_list", render_list("yaml", &statuses(), &listing()));
}

#[test]
fn yaml_watch() {
    insta::assert_snapshot!("yaml_watch", render_watch("yaml"));
}

#[test]
fn yaml_matches_the_reference_example() {
    let out = render_list("yaml", &statuses(), &listing()[..1]);
    assert_eq!(
        out,
        format!(
            "node: 172.20.0.2\n\
             metadata:\n    namespace: kubespan\n    type: KubeSpanPeerStatuses.kubespan.weft.dev\n    \
             id: {KEY_A}\n    version: 5\n    owner: kubespan.ManagerController\n    phase: running\n    \
             created: 2026-01-01T10:00:00Z\n    updated: 2026-01-01T10:05:00Z\n\
             spec:\n    endpoint: 172.20.0.3:51820\n    label: talos-default-controlplane-2\n    \
             state: up\n    receiveBytes: 1234\n    transmitBytes: 5678\n    \
             lastHandshakeTime: 2026-01-01T10:04:51.123456789Z\n    lastUsedEndpoint: 172.20.0.3:51820\n    \
             lastEndpointChange: 2026-01-01T10:00:02.5Z\n"
        )
    );
}

#[test]
fn yaml_parses_back() {
    let out = render_list("yaml", &statuses(), &listing());
    let docs: Vec<yaml_serde::Value> = out
        .split("\n---\n")
        .map(|doc| yaml_serde::from_str(doc).expect("each document parses"))
        .collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["node"].as_str(), Some("172.20.0.2"));
    assert_eq!(docs[2]["node"].as_str(), Some("172.20.0.3"));
    assert_eq!(docs[0]["spec"]["state"].as_str(), Some("up"));
    assert_eq!(docs[0]["spec"]["receiveBytes"].as_u64(), Some(1234));
    assert_eq!(docs[1]["spec"]["endpoint"].as_str(), Some(""));
    assert_eq!(
        docs[1]["spec"]["lastUsedEndpoint"].as_str(),
        Some("[2001:db8::7]:51820")
    );
    assert_eq!(
        docs[2]["metadata"]["labels"]["weft.dev/peer"].as_str(),
        Some("controlplane-1")
    );
    assert_eq!(docs[2]["metadata"]["version"].as_u64(), Some(12));
    // Every spec survives the trip unchanged.
    for (doc, (_, r)) in docs.iter().zip(listing()) {
        assert_eq!(doc["spec"], r.spec);
    }
    // The multi-document reader agrees with the split.
    let streamed = yaml_serde::Deserializer::from_str(&out).count();
    assert_eq!(streamed, 3);
}

#[test]
fn json_list() {
    insta::assert_snapshot!("json_list", render_list("json", &statuses(), &listing()));
}

#[test]
fn json_watch() {
    insta::assert_snapshot!("json_watch", render_watch("json"));
}

#[test]
fn json_objects_parse_back() {
    let out = render_list("json", &statuses(), &listing());
    // Concatenated objects, not an array: each ends with a line that is exactly `}`.
    let objects: Vec<&str> = out.split_inclusive("\n}\n").collect();
    assert_eq!(objects.len(), 3);
    assert!(out.starts_with("{\n    \"metadata\": {\n        \"created\""));
    for object in objects {
        // JSON is YAML: read it back with the YAML parser.
        let value: yaml_serde::Value = yaml_serde::from_str(object).expect("object parses");
        assert!(value["spec"]["label"].as_str().is_some());
        assert!(value.get("event").is_none());
    }
}

#[test]
fn jsonpath_forms() {
    let items = listing();
    for expr in ["{.spec.state}", ".spec.state", "spec.state"] {
        assert_eq!(
            render_list(&format!("jsonpath={expr}"), &statuses(), &items),
            "up\nunknown\ndown\n",
            "{expr}"
        );
    }
    assert_eq!(
        render_list("jsonpath={.metadata.id}", &statuses(), &items[..1]),
        format!("{KEY_A}\n")
    );
    assert_eq!(
        render_list(
            "jsonpath={.node}{.spec.receiveBytes}",
            &statuses(),
            &items[..2]
        ),
        "172.20.0.2\n1234\n172.20.0.2\n0\n"
    );
}

#[test]
fn jsonpath_composites() {
    insta::assert_snapshot!(
        "jsonpath_spec",
        render_list("jsonpath={.spec}", &statuses(), &listing()[..2])
    );
    insta::assert_snapshot!(
        "jsonpath_labels",
        render_list("jsonpath={.metadata.labels}", &statuses(), &listing()[2..])
    );
}

#[test]
fn jsonpath_watch_sees_events() {
    assert_eq!(
        render_watch("jsonpath={.event}"),
        "created\ncreated\nupdated\ncreated\ndestroyed\n"
    );
}

#[test]
fn jsonpath_missing_key_is_an_error() {
    let mut writer = Writer::new("jsonpath={.spec.nope}", Vec::new()).expect("format");
    writer.write_header(&statuses(), false).expect("header");
    let err = writer
        .write_resource("n1", &status(KEY_A, 1, UP), None)
        .expect_err("missing key");
    assert_eq!(
        err.to_string(),
        "jsonpath expression \"{.spec.nope}\": nope is not found"
    );
}

#[test]
fn format_errors() {
    let err = Writer::new("xml", Vec::new()).expect_err("unknown format");
    assert_eq!(
        err.to_string(),
        "output format \"xml\" is not supported (valid formats: table, yaml, json, jsonpath=EXPR)"
    );
    assert!(matches!(err, OutputError::UnknownFormat(_)));
    let err = Writer::new("jsonpath={.spec[", Vec::new()).expect_err("bad jsonpath");
    assert_eq!(
        err.to_string(),
        "invalid jsonpath expression \"{.spec[\": unterminated ["
    );
    let err = Writer::new("jsonpath=", Vec::new()).expect_err("empty jsonpath");
    assert_eq!(
        err.to_string(),
        "invalid jsonpath expression \"\": the expression is empty"
    );
    let bad_column = statuses().column("BAD", "{.a[?(@.b)]}");
    let err = Writer::new("table", Vec::new())
        .expect("table")
        .write_header(&bad_column, false)
        .expect_err("bad column");
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert_eq!(
        chain,
        [
            "print column \"BAD\"",
            "invalid jsonpath expression \"{.a[?(@.b)]}\": filter expressions [?(…)] are not supported"
        ]
    );
}

#[test]
fn formats_round_trip_through_text() {
    for text in ["table", "yaml", "json", "jsonpath={.spec.state}"] {
        let format: Format = text.parse().expect(text);
        assert_eq!(format.to_string(), text);
    }
}

/// A reader that went away.
struct ClosedPipe;

impl io::Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_keep_the_io_error_as_source() {
    let mut writer = Writer::new("yaml", ClosedPipe).expect("format");
    let err = writer
        .write_resource("n1", &status(KEY_A, 1, UP), None)
        .expect_err("closed pipe");
    // weftctl treats a closed pipe as success by finding the io::Error in the chain.
    let err = anyhow::Error::from(err);
    assert!(err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }));
}

/// Strings that exercise quoting: YAML and JSON special characters, look-alikes of other types,
/// control and non-BMP characters, line breaks in every position.
const ODD: &[&str] = &[
    "",
    " ",
    "~",
    "-",
    "- x",
    "?",
    ": x",
    "a: b",
    "a #b",
    "#",
    "---",
    "...",
    "null",
    "Null",
    "true",
    "False",
    "yes",
    "off",
    "y",
    "1",
    "-1",
    "+1",
    "0x1F",
    "0o17",
    "017",
    "08",
    "1_000",
    "1.5",
    "1e3",
    ".5",
    ".inf",
    "-.Inf",
    ".NaN",
    "1:30",
    "2026-01-01",
    "2026-01-01T10:00:00Z",
    "2026-13-01",
    "[fd00::1]:51820",
    "{a}",
    "*ref",
    "&anchor",
    "!tag",
    "%dir",
    "@at",
    "`tick",
    "|",
    ">",
    "'",
    "\"",
    "it's",
    "back\\slash",
    "tab\there",
    "nl\n",
    "\nlead",
    "a\nb",
    "a\n\nb\n\n",
    " a\nb",
    "a \nb",
    "a\n b",
    "cr\r\nlf",
    "bell\u{7}",
    "nul\u{0}",
    "del\u{7f}",
    "nel\u{85}",
    "nbsp\u{a0}",
    "ls\u{2028}ps\u{2029}",
    "bom\u{feff}",
    "é日本",
    "crab 🦀",
    "<html>&amp;",
];

fn odd_resource() -> Resource {
    let mut spec = yaml_serde::Mapping::new();
    for (i, s) in ODD.iter().enumerate() {
        spec.insert(
            yaml_serde::Value::String(format!("k{i}")),
            yaml_serde::Value::String((*s).to_owned()),
        );
        spec.insert(
            yaml_serde::Value::String((*s).to_owned()),
            yaml_serde::Value::Sequence(vec![
                yaml_serde::Value::String((*s).to_owned()),
                yaml_serde::Value::Mapping(
                    [(
                        yaml_serde::Value::String("nested".to_owned()),
                        yaml_serde::Value::String((*s).to_owned()),
                    )]
                    .into_iter()
                    .collect(),
                ),
            ]),
        );
    }
    spec.insert(
        yaml_serde::Value::String("long".to_owned()),
        yaml_serde::Value::String("x".repeat(300)),
    );
    let mut r = status(KEY_A, 1, "{}");
    r.spec = yaml_serde::Value::Mapping(spec);
    for (i, s) in ODD.iter().enumerate() {
        r.metadata.labels.insert(format!("l{i}"), (*s).to_owned());
    }
    r
}

#[test]
fn odd_values_never_panic_and_yaml_round_trips() {
    let r = odd_resource();
    let definition = statuses()
        .column("NL", "{.k52}")
        .column("LIST", "{.k1}")
        .column("ALL", "{.*}");
    for format in [
        "table",
        "yaml",
        "json",
        "jsonpath={.spec}",
        "jsonpath={..nested}",
    ] {
        for watch in [false, true] {
            let mut writer = Writer::new(format, Vec::new()).expect("format");
            writer.write_header(&definition, watch).expect("header");
            writer
                .write_resource("node\twith\ttabs", &r, Some(EventKind::Updated))
                .expect(format);
            writer.flush().expect("flush");
        }
    }
    let out = render_list("yaml", &definition, &[("n1", r.clone())]);
    let back: yaml_serde::Value = yaml_serde::from_str(&out).expect("yaml output parses");
    assert_eq!(back["spec"], r.spec, "{out}");
    for (i, s) in ODD.iter().enumerate() {
        let label = &back["metadata"]["labels"][format!("l{i}").as_str()];
        // Labels are untagged: a plain `true` or `1` reads back as that type, as with talosctl.
        let text = match label {
            yaml_serde::Value::String(t) => t.clone(),
            yaml_serde::Value::Null => String::new(),
            other => yaml_serde::to_string(other)
                .expect("scalar")
                .trim_end()
                .to_owned(),
        };
        if text != *s && !matches!(label, yaml_serde::Value::Null) {
            // Only YAML-typed spellings may differ (`0x1F` → 31, `.NaN` → .nan, …).
            assert!(
                !matches!(label, yaml_serde::Value::String(_)),
                "label {s:?} read back as {label:?}"
            );
        }
    }
}
