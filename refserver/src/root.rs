//! The served directory: the one given with `--root`, or a temporary one with
//! sample files that lives as long as the server.

use std::path::Path;

use crate::{Error, tools::ServedDir};

/// Name of the ~1 KiB text file in the default served directory.
pub const SAMPLE_FILE: &str = "sample.txt";
/// Name of the JSON file in the default served directory.
pub const NUMBERS_FILE: &str = "data/numbers.json";

/// The served directory and, for a temporary one, what removes it on drop.
#[derive(Debug)]
pub struct ServedRoot {
    dir: ServedDir,
    _temp: Option<tempfile::TempDir>,
}

impl ServedRoot {
    /// Serve `root` if given, else a fresh temporary directory holding
    /// [`SAMPLE_FILE`] and [`NUMBERS_FILE`].
    pub fn open(root: Option<&Path>) -> Result<Self, Error> {
        match root {
            Some(root) => Ok(Self {
                dir: ServedDir::new(root).map_err(|source| Error::Root {
                    path: root.to_owned(),
                    source,
                })?,
                _temp: None,
            }),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("erlmcp-refserver-")
                    .tempdir()
                    .map_err(Error::TempRoot)?;
                write_samples(temp.path()).map_err(Error::TempRoot)?;
                let dir = ServedDir::new(temp.path()).map_err(Error::TempRoot)?;
                Ok(Self {
                    dir,
                    _temp: Some(temp),
                })
            }
        }
    }

    /// The served directory.
    pub fn dir(&self) -> &ServedDir {
        &self.dir
    }
}

/// The text of [`SAMPLE_FILE`]: 16 lines of 64 bytes, 1 KiB in all.
pub fn sample_text() -> String {
    (0..16)
        .map(|line| {
            format!("{line:02} The quick brown fox jumps over the lazy dog. 0123456789abcde\n")
        })
        .collect()
}

fn write_samples(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join(SAMPLE_FILE), sample_text())?;
    let numbers = dir.join(NUMBERS_FILE);
    if let Some(parent) = numbers.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let values: Vec<u32> = (1..=32).map(|n| n * n).collect();
    std::fs::write(
        numbers,
        serde_json::json!({ "squares": values, "primes": [2, 3, 5, 7, 11, 13, 17, 19, 23, 29] })
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_one_kib() {
        assert_eq!(sample_text().len(), 1024);
    }

    #[test]
    fn temporary_root_has_samples_and_is_removed() {
        let root = ServedRoot::open(None).unwrap();
        let path = root.dir().root().to_owned();
        assert_eq!(
            std::fs::read_to_string(path.join(SAMPLE_FILE)).unwrap(),
            sample_text()
        );
        let numbers: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.join(NUMBERS_FILE)).unwrap())
                .unwrap();
        assert_eq!(numbers["squares"][2], 9);
        drop(root);
        assert!(!path.exists());
    }

    #[test]
    fn missing_given_root_is_an_error() {
        let error = ServedRoot::open(Some(Path::new("/definitely/not/here"))).unwrap_err();
        assert!(
            error.to_string().contains("/definitely/not/here"),
            "{error}"
        );
    }
}
