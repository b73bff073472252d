//! Serde adapters for spec fields whose unset value Talos renders in a particular way, so Weft's
//! YAML and JSON look like talosctl's:
//!
//! - an unset address or endpoint (Go's zero `netip.Addr`/`netip.AddrPort`) renders as `""`:
//!   [`empty_as_none`] maps it to `None`;
//! - times render as RFC 3339 with nanoseconds trimmed, and an unset time is Go's zero time
//!   `0001-01-01T00:00:00Z` ([`ZERO_TIME`]): [`rfc3339`].

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`), Talos's "never" (no handshake yet, no endpoint
/// set yet).
pub const ZERO_TIME: OffsetDateTime = {
    // Evaluated at compile time: an invalid date would fail the build, not panic at run time.
    let date = match Date::from_ordinal_date(1, 1) {
        Ok(d) => d,
        Err(_) => panic!("0001-01-01 is a valid date"),
    };
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
};

/// `Option<T>` as a string, `None` as `""` (and `""` or a missing key read back as `None`).
pub mod empty_as_none {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.collect_str(v),
            None => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(de::Error::custom)
    }
}

/// An [`OffsetDateTime`] as RFC 3339 in UTC, like Go's `time.Time` in YAML
/// (`2026-01-01T10:04:51.123456789Z`, zero time `0001-01-01T00:00:00Z`).
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub fn serialize<S: Serializer>(
        value: &OffsetDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        // Always `Z`: Talos stores UTC, and a fixed offset keeps outputs comparable.
        let text = value
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(|t| t.to_offset(UtcOffset::UTC))
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use serde::{Deserialize, Serialize};
    use time::OffsetDateTime;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "empty_as_none", default)]
        endpoint: Option<SocketAddr>,
        #[serde(with = "rfc3339")]
        at: OffsetDateTime,
    }

    fn round_trip(sample: &Sample, yaml: &str) {
        assert_eq!(yaml_serde::to_string(sample).expect("yaml"), yaml);
        let back: Sample = yaml_serde::from_str(yaml).expect("parse");
        assert_eq!(&back, sample);
    }

    #[test]
    fn zero_values_render_like_go() {
        round_trip(
            &Sample {
                endpoint: None,
                at: ZERO_TIME,
            },
            "endpoint: ''\nat: 0001-01-01T00:00:00Z\n",
        );
        assert_eq!(ZERO_TIME.unix_timestamp(), -62_135_596_800);
    }

    #[test]
    fn set_values_render_like_go() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_767_261_891_123_456_789)
            .expect("valid time");
        round_trip(
            &Sample {
                endpoint: Some("[fd00::1]:51820".parse().expect("addr")),
                at,
            },
            "endpoint: '[fd00::1]:51820'\nat: 2026-01-01T10:04:51.123456789Z\n",
        );
        let half = OffsetDateTime::from_unix_timestamp_nanos(1_767_261_602_500_000_000)
            .expect("valid time");
        round_trip(
            &Sample {
                endpoint: Some("172.20.0.3:51820".parse().expect("addr")),
                at: half,
            },
            "endpoint: 172.20.0.3:51820\nat: 2026-01-01T10:00:02.5Z\n",
        );
    }

    #[test]
    fn missing_endpoint_and_other_offsets() {
        let s: Sample = yaml_serde::from_str("at: 2026-01-01T12:00:00+02:00\n").expect("parse");
        assert_eq!(s.endpoint, None);
        assert_eq!(s.at.offset(), time::UtcOffset::UTC);
        assert_eq!(s.at.hour(), 10);
        assert!(
            yaml_serde::from_str::<Sample>("endpoint: nope\nat: 0001-01-01T00:00:00Z\n").is_err()
        );
    }
}
