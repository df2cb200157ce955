//! The reference server's image, built locally from the harness's own binary: `FROM scratch`
//! with the executable and the shared libraries `ldd` lists, tagged by the binary's SHA-256
//! so an unchanged binary is never built twice. Nothing is pulled.
//!
//! Built with bollard (the client `testcontainers` uses, from [`super::docker::connect`]), not
//! with `testcontainers`' `GenericBuildableImage`: that one cannot label the image
//! (`erlmcp-perf.image=refserver`) and reads only the `stream` lines of the build's progress,
//! not its `error_detail`, so a failed step's message and the build's output would be lost;
//! here they make the error. The containers run from the image are `testcontainers`'.

use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::docker::DockerError;

/// Repository of the reference server's images.
pub const REPOSITORY: &str = "erlmcp-perf-refserver";

/// Path of the executable inside the image.
const EXE_IN_IMAGE: &str = "/erlmcp-refserver";

/// The image for `binary`: `erlmcp-perf-refserver:<first 16 hex digits of its SHA-256>`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefImage {
    /// `repository:tag`.
    pub reference: String,
    /// Hex SHA-256 of the binary.
    pub binary_sha256: String,
    /// Entrypoint in the image: the executable then `prefix_args` (e.g. `refserver`).
    pub entrypoint: Vec<String>,
}

/// Hashes `binary` and names its image.
pub fn describe(binary: &Path, prefix_args: &[String]) -> Result<RefImage, DockerError> {
    let bytes = std::fs::read(binary)
        .map_err(|e| DockerError::new(format!("reading {}", binary.display()), e))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let mut entrypoint = vec![EXE_IN_IMAGE.to_string()];
    entrypoint.extend(prefix_args.iter().cloned());
    Ok(RefImage {
        reference: format!("{REPOSITORY}:{}", &sha[..16]),
        binary_sha256: sha,
        entrypoint,
    })
}

/// Makes sure the image for `binary` exists, building it if not. Returns its description.
pub async fn ensure(
    docker: &Docker,
    binary: &Path,
    prefix_args: &[String],
) -> Result<RefImage, DockerError> {
    let image = describe(binary, prefix_args)?;
    if docker.inspect_image(&image.reference).await.is_ok() {
        return Ok(image);
    }
    let context = build_context(binary, &image)?;
    let tar = tar_dir(context.path())
        .map_err(|e| DockerError::new("packing the image build context", e))?;
    let options = BuildImageOptions {
        t: Some(image.reference.clone()),
        rm: true,
        forcerm: true,
        labels: Some([("erlmcp-perf.image".to_string(), "refserver".to_string())].into()),
        ..Default::default()
    };
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    let mut output = String::new();
    while let Some(item) = progress.next().await {
        let info =
            item.map_err(|e| DockerError::new(format!("building {}", image.reference), e))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(DockerError::new(
                format!("building {}", image.reference),
                format!("{detail}\n{output}"),
            ));
        }
        if let Some(line) = info.stream {
            output.push_str(&line);
        }
    }
    docker
        .inspect_image(&image.reference)
        .await
        .map_err(|e| DockerError::new(format!("building {}", image.reference), e))?;
    Ok(image)
}

/// A build context under the binary's target directory: `Dockerfile` and `rootfs/` with the
/// executable and its shared libraries at the paths `ldd` gave. Removed when dropped.
fn build_context(binary: &Path, image: &RefImage) -> Result<tempfile::TempDir, DockerError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| DockerError::new(what.to_string(), e);
    let parent = binary
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = tempfile::Builder::new()
        .prefix("refserver-image-")
        .tempdir_in(parent)
        .map_err(|e| fail("creating the image build context", &e))?;
    let rootfs = dir.path().join("rootfs");
    let copy = |from: &Path, to_in_image: &Path| -> Result<(), DockerError> {
        let to = rootfs.join(to_in_image.strip_prefix("/").unwrap_or(to_in_image));
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(|e| fail("creating the build context", &e))?;
        }
        // `copy` follows symlinks: the library's bytes land under the name ldd gave.
        std::fs::copy(from, &to)
            .map(|_| ())
            .map_err(|e| fail(&format!("copying {}", from.display()), &e))
    };
    copy(binary, Path::new(EXE_IN_IMAGE))?;
    // The reference server keeps its served files in a temporary directory.
    let tmp = rootfs.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| fail("creating /tmp in the image", &e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
            .map_err(|e| fail("creating /tmp in the image", &e))?;
    }
    let libs = shared_libraries(binary)?;
    for lib in &libs {
        copy(lib, lib)?;
    }
    let mut lib_dirs: Vec<String> = libs
        .iter()
        .filter_map(|l| l.parent().map(|p| p.display().to_string()))
        .collect();
    lib_dirs.sort();
    lib_dirs.dedup();
    let entrypoint =
        serde_json::to_string(&image.entrypoint).map_err(|e| fail("writing the Dockerfile", &e))?;
    let dockerfile = format!(
        "# Built by erlmcp-perf from {binary} (sha256 {sha}).\n\
         FROM scratch\n\
         COPY rootfs/ /\n\
         ENV LD_LIBRARY_PATH={dirs}\n\
         ENTRYPOINT {entrypoint}\n",
        binary = binary.display(),
        sha = image.binary_sha256,
        dirs = lib_dirs.join(":"),
    );
    std::fs::write(dir.path().join("Dockerfile"), dockerfile)
        .map_err(|e| fail("writing the Dockerfile", &e))?;
    Ok(dir)
}

/// The shared libraries `ldd` lists for `binary` (none for a static binary).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, DockerError> {
    let output = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| DockerError::new("running ldd", e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if text.contains("not a dynamic executable")
            || String::from_utf8_lossy(&output.stderr).contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        return Err(DockerError::new(
            format!("running ldd {}", binary.display()),
            String::from_utf8_lossy(&output.stderr),
        ));
    }
    Ok(parse_ldd(&text))
}

/// Library paths in `ldd` output: `name => /path (0x..)` and `/path (0x..)` lines.
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.trim(),
                None => line,
            };
            let path = path.split(" (").next().unwrap_or("").trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn tar_dir(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(parse_ldd("\tstatically linked\n").is_empty());
    }

    #[test]
    fn tag_is_the_binary_hash() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"hello").unwrap();
        let image = describe(&bin, &["refserver".to_string()]).unwrap();
        assert_eq!(image.reference, "erlmcp-perf-refserver:2cf24dba5fb0a30e");
        assert_eq!(image.entrypoint, ["/erlmcp-refserver", "refserver"]);
    }
}
