//! The tools' logic, free of MCP plumbing: the `calculator` arithmetic and
//! the `file_read` confinement to the served directory.

use std::{
    io,
    path::{Component, Path, PathBuf},
};

use serde::Deserialize;

/// Files larger than this are refused by `file_read`.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// An arithmetic operation of the `calculator` tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
}

/// Arguments of the `calculator` tool.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct CalculatorArgs {
    /// The left operand.
    pub a: f64,
    /// The right operand.
    pub b: f64,
    /// The operation: add, sub, mul or div.
    pub op: Op,
}

/// Arguments of the `file_read` tool.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct FileReadArgs {
    /// Path of the file, relative to the served directory.
    pub path: String,
}

/// Why the calculator gives no number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    /// `div` with `b == 0`.
    #[error("division by zero")]
    DivisionByZero,
    /// The result overflowed or an operand was not finite.
    #[error("the result is not a finite number")]
    NotFinite,
}

/// Apply `op` to `a` and `b`.
pub fn calculate(a: f64, b: f64, op: Op) -> Result<f64, CalcError> {
    let result = match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div if b == 0.0 => return Err(CalcError::DivisionByZero),
        Op::Div => a / b,
    };
    if result.is_finite() {
        Ok(result)
    } else {
        Err(CalcError::NotFinite)
    }
}

/// Why `file_read` refuses or fails.
#[derive(Debug, thiserror::Error)]
pub enum FileReadError {
    /// The path is absolute, climbs above the root, or a symlink leads out.
    #[error("path `{0}` is outside the served directory")]
    OutsideRoot(String),
    /// Nothing at that path.
    #[error("file `{0}` not found")]
    NotFound(String),
    /// The path names a directory or another non-file.
    #[error("`{0}` is not a regular file")]
    NotAFile(String),
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error(
        "file `{path}` is {size} bytes, more than the {MAX_FILE_BYTES} bytes file_read returns"
    )]
    TooLarge {
        /// The path as requested.
        path: String,
        /// Its size in bytes.
        size: u64,
    },
    /// The file is not UTF-8 text.
    #[error("file `{0}` is not UTF-8 text")]
    NotText(String),
    /// Another I/O error.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path as requested.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// The directory `file_read` serves files from.
#[derive(Debug, Clone)]
pub struct ServedDir {
    root: PathBuf,
}

impl ServedDir {
    /// Serve `root`, which must exist; it is canonicalised once here.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve `requested` to a canonical path inside the root.
    ///
    /// Refuses absolute paths and paths that climb above the root lexically
    /// (before touching the file system), then canonicalises, which follows
    /// symlinks, and refuses a result outside the root.
    pub async fn resolve(&self, requested: &str) -> Result<PathBuf, FileReadError> {
        let outside = || FileReadError::OutsideRoot(requested.to_owned());
        let mut depth = 0usize;
        for component in Path::new(requested).components() {
            match component {
                Component::Normal(_) => depth += 1,
                Component::CurDir => {}
                Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(outside)?,
                Component::RootDir | Component::Prefix(_) => return Err(outside()),
            }
        }
        let canonical = tokio::fs::canonicalize(self.root.join(requested))
            .await
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => FileReadError::NotFound(requested.to_owned()),
                _ => FileReadError::Io {
                    path: requested.to_owned(),
                    source,
                },
            })?;
        if canonical.starts_with(&self.root) {
            Ok(canonical)
        } else {
            Err(outside())
        }
    }

    /// Read the text of the file at `requested`, relative to the root.
    pub async fn read(&self, requested: &str) -> Result<String, FileReadError> {
        let path = self.resolve(requested).await?;
        let io_error = |source| FileReadError::Io {
            path: requested.to_owned(),
            source,
        };
        let metadata = tokio::fs::metadata(&path).await.map_err(io_error)?;
        if !metadata.is_file() {
            return Err(FileReadError::NotAFile(requested.to_owned()));
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(FileReadError::TooLarge {
                path: requested.to_owned(),
                size: metadata.len(),
            });
        }
        let bytes = tokio::fs::read(&path).await.map_err(io_error)?;
        String::from_utf8(bytes).map_err(|_| FileReadError::NotText(requested.to_owned()))
    }
}

/// Format a calculator result the way a person writes it: `42`, `0.5`.
pub fn format_number(value: f64) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calculator_ops() {
        assert_eq!(calculate(40.0, 2.0, Op::Add), Ok(42.0));
        assert_eq!(calculate(40.0, 2.0, Op::Sub), Ok(38.0));
        assert_eq!(calculate(6.0, 7.0, Op::Mul), Ok(42.0));
        assert_eq!(calculate(1.0, 4.0, Op::Div), Ok(0.25));
        assert_eq!(calculate(1.0, 0.0, Op::Div), Err(CalcError::DivisionByZero));
        assert_eq!(
            calculate(1.0, -0.0, Op::Div),
            Err(CalcError::DivisionByZero)
        );
        assert_eq!(calculate(f64::MAX, 2.0, Op::Mul), Err(CalcError::NotFinite));
        assert_eq!(format_number(42.0), "42");
        assert_eq!(format_number(-0.25), "-0.25");
    }

    #[test]
    fn op_parses_lowercase_names() {
        let args: CalculatorArgs =
            serde_json::from_str(r#"{"a": 1, "b": 2.5, "op": "mul"}"#).unwrap();
        assert_eq!(args.op, Op::Mul);
        assert!(serde_json::from_str::<CalculatorArgs>(r#"{"a":1,"b":2,"op":"pow"}"#).is_err());
    }

    fn served() -> (tempfile::TempDir, ServedDir) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "alpha").unwrap();
        std::fs::write(root.join("sub/b.txt"), "beta").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
        let served = ServedDir::new(&root).unwrap();
        (dir, served)
    }

    #[tokio::test]
    async fn reads_files_inside_the_root() {
        let (_dir, served) = served();
        assert_eq!(served.read("a.txt").await.unwrap(), "alpha");
        assert_eq!(served.read("./sub/b.txt").await.unwrap(), "beta");
        assert_eq!(served.read("sub/../a.txt").await.unwrap(), "alpha");
    }

    #[tokio::test]
    async fn refuses_paths_outside_the_root() {
        let (dir, served) = served();
        for path in ["../secret.txt", "../x", "sub/../../secret.txt", ".."] {
            let error = served.read(path).await.unwrap_err();
            assert!(
                matches!(error, FileReadError::OutsideRoot(_)),
                "{path}: {error}"
            );
        }
        let absolute = dir.path().join("root/a.txt");
        let error = served.read(absolute.to_str().unwrap()).await.unwrap_err();
        assert!(matches!(error, FileReadError::OutsideRoot(_)), "{error}");
        let error = served.read("/etc/passwd").await.unwrap_err();
        assert!(matches!(error, FileReadError::OutsideRoot(_)), "{error}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn refuses_symlinks_that_escape() {
        let (dir, served) = served();
        let root = dir.path().join("root");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("inside.txt")).unwrap();
        for path in ["escape.txt", "up/secret.txt"] {
            let error = served.read(path).await.unwrap_err();
            assert!(
                matches!(error, FileReadError::OutsideRoot(_)),
                "{path}: {error}"
            );
        }
        assert_eq!(served.read("inside.txt").await.unwrap(), "alpha");
    }

    #[tokio::test]
    async fn missing_files_and_directories_are_errors() {
        let (_dir, served) = served();
        assert!(matches!(
            served.read("nope.txt").await.unwrap_err(),
            FileReadError::NotFound(_)
        ));
        assert!(matches!(
            served.read("sub").await.unwrap_err(),
            FileReadError::NotAFile(_)
        ));
    }
}
