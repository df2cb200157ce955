//! Latency histograms as records keep them: lossless (HdrHistogram V2 + DEFLATE, base64),
//! so records can be merged and re-analysed later.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

use super::RunRecord;

/// Serialises a histogram losslessly (V2 + DEFLATE, base64) so records can be merged and
/// re-analysed later.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serialising into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The latency histograms of every operation of `records`, merged: all their successful
/// requests in one histogram. Unreadable histograms are skipped.
pub fn merged_latency(records: &[RunRecord]) -> Histogram<u64> {
    let mut merged = crate::load::histogram(crate::load::LATENCY_SIGFIG);
    for op in records.iter().flat_map(|r| &r.operations) {
        if let Ok(h) = decode_histogram(&op.latency_histogram) {
            merged.add(&h).expect("auto-resizing histograms merge");
        }
    }
    merged
}

/// Reads a histogram written by [`encode_histogram`].
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("bad histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;

    #[test]
    fn histograms_round_trip() {
        let mut h = histogram(3);
        for v in [1, 10, 100, 1_000, 123_456] {
            h.record(v).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h)).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
        assert!(decode_histogram("not base64!").is_err());
    }
}
