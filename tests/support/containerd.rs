//! A real containerd daemon for the conformance tier: started on a socket
//! and root/state folders of its own in a temp folder (CRI and the
//! snapshotters that need kernel support disabled), killed when the guard
//! drops. Images are built by hand (one tiny layer, a config, a manifest,
//! an OCI layout tar) and imported with `ctr images import`, then given the
//! refs a kubelet-pulled node holds: the tag, `NAME@sha256:<manifest>` and
//! `sha256:<config>`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::real_tools;

const CONFIG: &str = r#"version = 2
root = "@DIR@/root"
state = "@DIR@/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]
[grpc]
  address = "@DIR@/c.sock"
[ttrpc]
  address = "@DIR@/c.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"#;

/// A running containerd; dropping it kills the daemon.
pub struct Containerd {
    dir: tempfile::TempDir,
    daemon: Child,
    ctr: PathBuf,
}

/// The refs one imported image has on the node.
#[derive(Debug, Clone)]
pub struct ImageRefs {
    pub tag: String,
    pub by_digest: String,
    pub id: String,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Containerd {
    /// Start containerd, or `None` (skipped; a failure under CI) when it or
    /// ctr is missing or binderctl's tests do not run as root.
    pub fn start() -> Option<Self> {
        let daemon_path = real_tools::require("containerd")?;
        let ctr = real_tools::require("ctr")?;
        if !is_root() {
            let message = "containerd needs root: run the conformance tier as root";
            assert!(!real_tools::in_ci(), "{message}");
            eprintln!("SKIPPED (not run, not passed): {message}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("ctd")
            .tempdir()
            .expect("temp dir");
        let config = dir.path().join("config.toml");
        let text = CONFIG.replace("@DIR@", &dir.path().to_string_lossy());
        std::fs::write(&config, text).expect("containerd config");
        let log = std::fs::File::create(dir.path().join("containerd.log")).expect("log");
        let daemon = Command::new(daemon_path)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd { dir, daemon, ctr };
        containerd.wait_until_serving();
        Some(containerd)
    }

    fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.socket().exists() && self.ctr(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(self.dir.path().join("containerd.log"));
        panic!("containerd did not start: {}", log.unwrap_or_default());
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    pub fn ctr_path(&self) -> &Path {
        &self.ctr
    }

    /// `ctr --address SOCK ARGS`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new(&self.ctr)
            .arg("--address")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    /// `ctr --namespace k8s.io ARGS`, which must succeed; its stdout.
    pub fn k8s(&self, args: &[&str]) -> String {
        self.in_namespace("k8s.io", args)
    }

    /// `ctr --namespace NS ARGS`, which must succeed; its stdout.
    pub fn in_namespace(&self, namespace: &str, args: &[&str]) -> String {
        let mut argv = vec!["--namespace", namespace];
        argv.extend_from_slice(args);
        let out = self.ctr(&argv);
        assert!(
            out.status.success(),
            "ctr {argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The refs in the k8s.io namespace, sorted.
    pub fn refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self
            .k8s(&["images", "ls", "-q"])
            .lines()
            .map(str::to_string)
            .collect();
        refs.sort();
        refs
    }

    /// Build a one-layer image whose layer holds `content`, import it as
    /// `tag` (unpacked with the native snapshotter, so containers can use
    /// it) and add the `NAME@sha256:` and `sha256:` refs the CRI keeps.
    pub fn import(&self, tag: &str, content: &str) -> ImageRefs {
        self.import_into("k8s.io", tag, content)
    }

    /// [`Containerd::import`] into containerd namespace `namespace`.
    pub fn import_into(&self, namespace: &str, tag: &str, content: &str) -> ImageRefs {
        let work = tempfile::tempdir_in(self.dir.path()).expect("image dir");
        let (manifest, config) = build_oci_archive(work.path(), tag, content);
        let archive = work.path().join("image.tar");
        self.in_namespace(
            namespace,
            &[
                "images",
                "import",
                "--snapshotter",
                "native",
                &archive.to_string_lossy(),
            ],
        );
        let name = tag.rsplit_once(':').map_or(tag, |(name, _)| name);
        let refs = ImageRefs {
            tag: tag.to_string(),
            by_digest: format!("{name}@{manifest}"),
            id: config,
        };
        self.in_namespace(
            namespace,
            &["images", "tag", tag, &refs.by_digest, &refs.id],
        );
        refs
    }

    /// A container (not started) that uses `image`, as a pod's would.
    pub fn create_container(&self, image: &str, id: &str) {
        self.k8s(&["containers", "create", "--snapshotter", "native", image, id]);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", text.split_whitespace().next().expect("digest"))
}

/// Put `path` into the layout's blobs; returns (digest, size).
fn add_blob(layout: &Path, path: &Path) -> (String, u64) {
    let digest = sha256_of(path);
    let hex = digest.trim_start_matches("sha256:");
    std::fs::copy(path, layout.join("blobs/sha256").join(hex)).expect("blob");
    (digest, std::fs::metadata(path).expect("blob size").len())
}

fn tar(archive: &Path, folder: &Path) {
    let status = Command::new("tar")
        .arg("-cf")
        .arg(archive)
        .arg("-C")
        .arg(folder)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success(), "tar {}", archive.display());
}

/// An OCI image layout tar at `dir/image.tar`; returns the manifest and
/// config digests.
fn build_oci_archive(dir: &Path, tag: &str, content: &str) -> (String, String) {
    let layout = dir.join("layout");
    let files = dir.join("files");
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("layout");
    std::fs::create_dir_all(&files).expect("files");
    std::fs::write(files.join("content.txt"), content).expect("content");
    let layer = dir.join("layer.tar");
    tar(&layer, &files);
    let (layer_digest, layer_size) = add_blob(&layout, &layer);
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        ),
    )
    .expect("config");
    let (config_digest, config_size) = add_blob(&layout, &config);
    let manifest = dir.join("manifest.json");
    std::fs::write(
        &manifest,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_size}}}]}}"#
        ),
    )
    .expect("manifest");
    let (manifest_digest, manifest_size) = add_blob(&layout, &manifest);
    std::fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{manifest_size},"annotations":{{"io.containerd.image.name":"{tag}"}}}}]}}"#
        ),
    )
    .expect("index");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    tar(&dir.join("image.tar"), &layout);
    (manifest_digest, config_digest)
}
