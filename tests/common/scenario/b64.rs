//! Base64 in ledger.json and in assertion messages: serde adapters for raw
//! bytes and for an Event kept as its protobuf, and a plain encoder.

use base64::Engine as _;

/// Raw bytes as a base64 string.
pub mod bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// An optional Event as base64 of its protobuf (`None` as null).
pub mod event {
    use base64::Engine as _;
    use evforensics::proto::core::v1::Event;
    use prost::Message as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Event>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(e) => s.serialize_str(
                &base64::engine::general_purpose::STANDARD.encode(e.encode_to_vec()),
            ),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Event>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)?;
        Event::decode(bytes.as_slice())
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// Base64 of `bytes` (handy in assertion messages).
pub fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
