//! Records the git revision and rustc version for `bedrock_exporter_build_info`.
//!
//! Cargo reruns a build script whose `rerun-if-changed` path does not exist on every build, and a
//! rerun build script rebuilds the crate. So the script watches only git files that exist, and
//! none when `BEDROCK_EXPORTER_REVISION` gives the revision (the Docker build, and CI's build of
//! the Docker context, have no `.git`).
use std::path::Path;
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The files whose change moves HEAD: HEAD itself, the branches (a directory, which cargo scans
/// whole, so a branch's new file counts) and packed-refs. Asked of git, so that a worktree, whose
/// `.git` is a file, works too.
fn git_files() -> Vec<String> {
    ["HEAD", "refs/heads", "packed-refs"]
        .into_iter()
        .filter_map(|name| output("git", &["rev-parse", "--git-path", name]))
        .filter(|path| Path::new(path).exists())
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BEDROCK_EXPORTER_REVISION");
    let revision = match std::env::var("BEDROCK_EXPORTER_REVISION") {
        Ok(revision) if !revision.is_empty() => revision,
        _ => {
            for path in git_files() {
                println!("cargo:rerun-if-changed={path}");
            }
            output("git", &["rev-parse", "--short=12", "HEAD"])
                .unwrap_or_else(|| "unknown".to_owned())
        }
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BEDROCK_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=BEDROCK_EXPORTER_RUSTC_VERSION={rustc_version}");
}
