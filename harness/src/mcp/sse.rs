//! Incremental parser for `text/event-stream` bodies: bytes in, complete `data` payloads out.

/// Feeds on body chunks and yields each event's `data` (lines joined with `\n`).
/// Comments, `event:`, `id:` and `retry:` fields are skipped; events with no data are dropped.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    /// Adds a chunk and calls `on_event` with each event's data completed by it.
    /// Stops early, returning `Some`, when `on_event` returns `Some`.
    pub fn feed<T>(
        &mut self,
        chunk: &[u8],
        mut on_event: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<T> {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        let mut found = None;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            start = end + 1;
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if line.is_empty() {
                // Per the SSE spec an event with an empty data buffer is not dispatched
                // (servers send such priming events before the response).
                if self.has_data && !self.data.is_empty() {
                    let out = on_event(&self.data);
                    self.data.clear();
                    self.has_data = false;
                    if out.is_some() {
                        found = out;
                        break;
                    }
                }
                self.data.clear();
                self.has_data = false;
                continue;
            }
            if let Some(value) = line.strip_prefix(b"data:") {
                let value = value.strip_prefix(b" ").unwrap_or(value);
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            // Other fields (event, id, retry) and comments carry nothing we correlate on.
        }
        self.buf.drain(..start);
        found
    }

    /// Bytes held that do not yet form a complete line or event.
    pub fn pending(&self) -> usize {
        self.buf.len() + self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_events(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed::<()>(chunk, |data| {
                out.push(String::from_utf8_lossy(data).into_owned());
                None
            });
        }
        out
    }

    #[test]
    fn events_split_across_chunks() {
        let events = all_events(&[b"id: 1\nda", b"ta: {\"a\":1}\n", b"\ndata: x\r\n\r\n"]);
        assert_eq!(events, vec!["{\"a\":1}", "x"]);
    }

    #[test]
    fn multi_line_data_and_comments() {
        let events = all_events(&[
            b": keep-alive\n\ndata: \nid: 0\nretry: 3000\n\ndata: a\ndata: b\n\nevent: message\n\n",
        ]);
        assert_eq!(events, vec!["a\nb"]);
    }

    #[test]
    fn stops_at_first_match() {
        let mut parser = SseParser::default();
        let got = parser.feed(b"data: 1\n\ndata: 2\n\ndata: 3\n\n", |d| {
            (d == b"2").then_some(2)
        });
        assert_eq!(got, Some(2));
    }
}
