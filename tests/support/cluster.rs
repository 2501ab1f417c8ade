//! The end-to-end tier's judge: a real Kubernetes control plane
//! (kube-apiserver, etcd, kube-controller-manager, kube-scheduler) with kwok
//! nodes, started by `scripts/test-cluster up` from the binaries
//! `scripts/setup-real-tools` builds, and the real kubectl and Helm talking
//! to it through binderctl.
//!
//! One cluster serves every test of a test binary (it starts once, or is
//! found running); each test works in namespaces of its own, made fresh and
//! deleted when the test ends. `scripts/test` stops the cluster when the
//! suite is done (`scripts/test-cluster down binderctl-tests` by hand).
//! Without the binaries, or when the cluster cannot start, a test fails
//! under `CI=true` and says SKIPPED otherwise, never passing silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::real_tools::{in_ci, tools_dir};
use super::wrapper::{RealTools, RealToolsBin};

/// The cluster the test suite runs (`scripts/test-cluster up NAME`);
/// `BINDERCTL_TEST_CLUSTER` names another (two checkouts testing at once).
pub const CLUSTER_NAME: &str = "binderctl-tests";

fn cluster_name() -> String {
    std::env::var("BINDERCTL_TEST_CLUSTER")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| CLUSTER_NAME.to_string())
}

/// The three kwok nodes `scripts/test-cluster` makes, as MicroK8s names
/// them: one control plane, two workers.
pub const NODES: [&str; 3] = ["lab-cp-1", "lab-worker-1", "lab-worker-2"];

/// A running control plane.
pub struct ControlPlane {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    pub helm3: PathBuf,
}

fn skip_or_fail(message: &str) {
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("SKIPPED (not run, not passed): {message}");
}

/// The control plane, started on first use; `None` (after saying the test
/// is skipped; a failure under CI) when it cannot run here.
pub fn require() -> Option<&'static ControlPlane> {
    static PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    match PLANE.get_or_init(|| start(&cluster_name())) {
        Ok(plane) => Some(plane),
        Err(message) => {
            skip_or_fail(message);
            None
        }
    }
}

/// A cluster of a test binary's own (`NAME-SUFFIX`, NAME the shared one's),
/// for tests that stop its components; `scripts/test` stops it like the
/// shared one (`scripts/test-cluster down NAME-SUFFIX` by hand).
pub fn require_own(suffix: &str) -> Option<&'static ControlPlane> {
    static PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    match PLANE.get_or_init(|| start(&format!("{}-{suffix}", cluster_name()))) {
        Ok(plane) => Some(plane),
        Err(message) => {
            skip_or_fail(message);
            None
        }
    }
}

/// `require` inside a test: returns from the test when there is no cluster.
#[macro_export]
macro_rules! control_plane {
    () => {
        match $crate::support::cluster::require() {
            Some(plane) => plane,
            None => return,
        }
    };
}

fn start(name: &str) -> Result<ControlPlane, String> {
    let dir = tools_dir();
    for tool in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "etcd",
        "kwok",
        "kwokctl",
        "kubectl",
        "helm",
        "helm3",
    ] {
        if !dir.join(tool).is_file() {
            return Err(format!(
                "the control plane's {tool} is missing from {}: run scripts/setup-real-tools",
                dir.display()
            ));
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-cluster");
    let out = Command::new(&script)
        .args(["up", name])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "scripts/test-cluster up {name} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let kubeconfig = stdout
        .lines()
        .last()
        .and_then(|line| line.strip_prefix("export KUBECONFIG="))
        .ok_or_else(|| format!("scripts/test-cluster up printed no KUBECONFIG line:\n{stdout}"))?;
    Ok(ControlPlane {
        kubeconfig: PathBuf::from(kubeconfig),
        kubectl: dir.join("kubectl"),
        helm: dir.join("helm"),
        helm3: dir.join("helm3"),
    })
}

/// Cluster-wide state (StorageClasses, nodes, the chart's cluster roles)
/// is changed by one test at a time.
pub fn cluster_wide() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A control-plane component's process (kwokctl's pid file names it), for
/// a shim to kill (a crash); [`ControlPlane::restart`] brings them all back.
pub struct Component {
    pub name: &'static str,
    pub pid_file: PathBuf,
    /// Its command line, as kwokctl started it (to start it again).
    argv: Vec<std::ffi::OsString>,
}

impl Component {
    pub fn pid(&self) -> u32 {
        std::fs::read_to_string(&self.pid_file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        !stat.is_empty() && stat.split_whitespace().nth(2) != Some("Z")
    }
}

impl ControlPlane {
    /// The running component `name` (`kube-apiserver`, `etcd`, ...).
    pub fn component(&self, name: &'static str) -> Component {
        let dir = self.kubeconfig.parent().expect("the cluster's folder");
        let mut component = Component {
            name,
            pid_file: dir.join("pids").join(format!("{name}.pid")),
            argv: Vec::new(),
        };
        assert!(component.is_running(), "{name} is not running");
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", component.pid())).expect("cmdline");
        component.argv = cmdline
            .split(|b| *b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| {
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(arg).to_os_string()
            })
            .collect();
        component
    }

    /// Start `component` again, stopped by a fault, as kwokctl started it
    /// (its command line, folder and log; its pid file updated), in a
    /// process group of its own: much faster than [`ControlPlane::restart`],
    /// whose new kwok waits a lease renewal (50 s) to take the nodes over.
    pub fn start_again(&self, component: &Component) {
        use std::os::unix::process::CommandExt;
        assert!(!component.is_running(), "{} is running", component.name);
        let dir = self.kubeconfig.parent().expect("the cluster's folder");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("logs").join(format!("{}.log", component.name)))
            .expect("the component's log");
        let (program, args) = component.argv.split_first().expect("a command line");
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {} again: {e}", component.name));
        std::fs::write(&component.pid_file, child.id().to_string()).expect("the pid file");
        // Reaped when it ends (a fault kills it again), so that it never
        // lingers as a zombie; it outlives the test binary otherwise, as
        // kwokctl's do.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }

    /// Stop `component` (SIGKILL), as a fault would.
    pub fn stop(&self, component: &Component) {
        let pid = component.pid();
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        self.wait_for(
            &format!("{} to stop", component.name),
            Duration::from_secs(30),
            || !component.is_running(),
        );
    }

    /// Stop every component still running and start them all again, as
    /// kwokctl does (etcd keeps its data): the control plane coming back
    /// after a fault, with fresh clients everywhere.
    pub fn restart(&self) {
        let dir = self.kubeconfig.parent().expect("the cluster's folder");
        let name = dir.file_name().expect("the cluster's name");
        let workdir = dir.parent().and_then(Path::parent).expect("kwok's folder");
        let kwokctl = tools_dir().join("kwokctl");
        for action in ["stop", "start"] {
            let out = Command::new(&kwokctl)
                .arg("--name")
                .arg(name)
                .args([action, "cluster"])
                .env("KWOK_WORKDIR", workdir)
                // kwokctl's readiness check runs kubectl from PATH: ours.
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        tools_dir().display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                )
                .stdin(Stdio::null())
                .output()
                .expect("run kwokctl");
            assert!(
                out.status.success(),
                "kwokctl {action} cluster: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.wait_ready();
        // kwok drives only the nodes whose leases it holds, and a restarted
        // kwok does not take over its predecessor's leases (as a new
        // kubelet would): hand them over.
        self.kubectl_ok(&["delete", "lease", "-n", "kube-node-lease", "--all"]);
        self.wait_for(
            "kwok to hold the nodes' leases",
            Duration::from_secs(60),
            || {
                self.kubectl_ok(&["get", "lease", "-n", "kube-node-lease", "-o", "name"])
                    .lines()
                    .count()
                    >= NODES.len()
            },
        );
    }

    /// Wait until the API server answers again.
    pub fn wait_ready(&self) {
        self.wait_for("the API server to answer", Duration::from_secs(90), || {
            self.kubectl(&["get", "--raw=/readyz"]).status.success()
        });
    }

    /// Real kubectl on this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// kubectl that must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl with `input` on stdin (`apply -f -`), which must succeed.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\ninput:\n{input}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The object as JSON (`kubectl get KIND NAME -o json`), or `None` when
    /// the server says it does not exist.
    pub fn get_json(
        &self,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl(&args);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("NotFound"), "kubectl {args:?}: {err}");
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("kubectl JSON"))
    }

    /// The names of the `kind` objects in `namespace` (with a selector).
    pub fn names(&self, namespace: &str, kind: &str, selector: Option<&str>) -> Vec<String> {
        let mut args = vec!["get", kind, "-n", namespace, "-o", "name"];
        if let Some(selector) = selector {
            args.extend(["-l", selector]);
        }
        let mut names: Vec<String> = self
            .kubectl_ok(&args)
            .lines()
            .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
            .collect();
        names.sort();
        names
    }

    /// A fresh namespace, deleted when the guard drops.
    pub fn namespace(&self, prefix: &str) -> TestNamespace<'_> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{:x}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.kubectl_ok(&["create", "namespace", &name]);
        // Pods are admitted once the controller manager has made the
        // namespace's default ServiceAccount.
        self.wait_for(
            "the namespace's default ServiceAccount",
            Duration::from_secs(60),
            || {
                self.kubectl(&["get", "serviceaccount", "default", "-n", &name])
                    .status
                    .success()
            },
        );
        TestNamespace { plane: self, name }
    }

    /// Wait until `done` holds, polling; panics naming `what` after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A namespace of one test.
pub struct TestNamespace<'a> {
    plane: &'a ControlPlane,
    pub name: String,
}

impl Drop for TestNamespace<'_> {
    fn drop(&mut self) {
        let _ = self.plane.kubectl(&[
            "delete",
            "namespace",
            &self.name,
            "--ignore-not-found",
            "--wait=false",
        ]);
    }
}

/// How binderctl reaches the cluster: MicroK8s' wrappers (the stand-in that
/// hands `microk8s kubectl|helm` to the real tools with the cluster's
/// kubeconfig as `$SNAP_DATA/credentials/client.config`, as the real
/// wrapper does) or `--tools plain --kubeconfig FILE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Microk8s,
    Plain,
}

/// Which Helm binderctl drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelmMajor {
    Four,
    Three,
}

/// binderctl pointed at the control plane: a PATH of the real tools, its
/// own HOME, working folder and Helm state, so every test starts from a
/// fresh Helm.
pub struct Binderctl<'a> {
    pub plane: &'a ControlPlane,
    pub flavor: Flavor,
    bin: RealToolsBin,
    home: tempfile::TempDir,
    snap: tempfile::TempDir,
    /// Another identity's kubeconfig (`--tools plain` only).
    kubeconfig: Option<PathBuf>,
    /// A folder put first on PATH (a tool in front of the real one).
    shim: Option<tempfile::TempDir>,
}

impl<'a> Binderctl<'a> {
    /// The same, authenticating with `kubeconfig` instead of the admin's.
    pub fn with_kubeconfig(mut self, kubeconfig: &Path) -> Self {
        assert_eq!(
            self.flavor,
            Flavor::Plain,
            "MicroK8s' wrappers bring their own kubeconfig"
        );
        self.kubeconfig = Some(kubeconfig.to_path_buf());
        self
    }

    pub fn new(plane: &'a ControlPlane, flavor: Flavor, helm: HelmMajor) -> Self {
        let snap = tempfile::tempdir().expect("snap folder");
        let client_config = snap.path().join("credentials/client.config");
        std::fs::create_dir_all(client_config.parent().unwrap()).unwrap();
        std::fs::copy(&plane.kubeconfig, &client_config).expect("copy the kubeconfig");
        let helm = match helm {
            HelmMajor::Four => &plane.helm,
            HelmMajor::Three => &plane.helm3,
        };
        let bin = RealToolsBin::new(&RealTools {
            kubectl: &plane.kubectl,
            helm,
            ctr: None,
            kubeconfig: &client_config,
            containerd_socket: None,
        });
        let home = tempfile::tempdir().expect("home");
        std::fs::create_dir_all(home.path().join("work")).unwrap();
        Binderctl {
            plane,
            flavor,
            bin,
            home,
            snap,
            kubeconfig: None,
            shim: None,
        }
    }

    /// A `kubectl` (or `helm`) in front of the real one that stops
    /// `component` (SIGKILL) just before the first call whose arguments hold every
    /// word of `when` (`--tools plain` only): the server going away at a
    /// known point of a command. The real tool then runs, and finds it gone.
    pub fn stopping_before(self, tool: &str, when: &[&str], component: &Component) -> Self {
        self.shim(tool, when, component, None)
    }

    /// [`Binderctl::stopping_before`], and the call that stopped it then
    /// waits until the file `back` exists (the test brought the control
    /// plane back) before the real tool runs: the server going away and
    /// coming back while the command runs, with that call in flight.
    pub fn stopping_before_until(
        self,
        tool: &str,
        when: &[&str],
        component: &Component,
        back: &Path,
    ) -> Self {
        self.shim(tool, when, component, Some(back))
    }

    fn shim(
        mut self,
        tool: &str,
        when: &[&str],
        component: &Component,
        back: Option<&Path>,
    ) -> Self {
        assert_eq!(
            self.flavor,
            Flavor::Plain,
            "the shim stands in for plain tools"
        );
        let real = match tool {
            "kubectl" => self.plane.kubectl.clone(),
            "helm" => self.plane.helm.clone(),
            other => panic!("no shim for {other}"),
        };
        let dir = self
            .shim
            .take()
            .unwrap_or_else(|| tempfile::tempdir().expect("shim folder"));
        let marker = dir.path().join(format!("{tool}.fired"));
        let tests: String = when
            .iter()
            .map(|w| format!("case \" $* \" in *\" {w} \"*) ;; *) hit= ;; esac\n"))
            .collect();
        let script = format!(
            "#!/bin/sh\nhit=1\n{tests}if [ -n \"$hit\" ] && [ ! -e '{marker}' ]; then\n  \
             : > '{marker}'\n  pid=$(cat '{pid_file}')\n  kill -KILL \"$pid\"\n  \
             while kill -0 \"$pid\" 2>/dev/null && \
             [ \"$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)\" != Z ]; do sleep 0.05; done\n{wait}fi\n\
             exec '{real}' \"$@\"\n",
            marker = marker.display(),
            pid_file = component.pid_file.display(),
            real = real.display(),
            wait = back
                .map(|back| format!(
                    "  n=0; while [ ! -e '{}' ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done\n",
                    back.display()
                ))
                .unwrap_or_default(),
        );
        let path = dir.path().join(tool);
        std::fs::write(&path, script).expect("shim");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        self.shim = Some(dir);
        self
    }

    /// Whether the shim in front of `tool` stopped its component.
    pub fn shim_fired(&self, tool: &str) -> bool {
        self.shim
            .as_ref()
            .is_some_and(|dir| dir.path().join(format!("{tool}.fired")).exists())
    }

    /// The folder binderctl runs in (binder.yaml, secret.yaml, _binder.yaml).
    pub fn work(&self) -> PathBuf {
        self.home.path().join("work")
    }

    /// Write a file into the working folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.work().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The command, not yet run: `binderctl ARGS` with the flavour's
    /// global options.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_binderctl"));
        command.args(args);
        if self.flavor == Flavor::Plain {
            command.arg("--tools=plain").arg(format!(
                "--kubeconfig={}",
                self.kubeconfig
                    .as_ref()
                    .unwrap_or(&self.plane.kubeconfig)
                    .display()
            ));
        }
        let at = |sub: &str| self.home.path().join(sub);
        command
            .env_clear()
            .env(
                "PATH",
                match &self.shim {
                    Some(shim) => format!(
                        "{}:{}:/usr/bin:/bin",
                        shim.path().display(),
                        self.bin.path().display()
                    ),
                    None => format!("{}:/usr/bin:/bin", self.bin.path().display()),
                },
            )
            .env("HOME", self.home.path())
            .env("TMPDIR", std::env::temp_dir())
            .env("BINDERCTL_MICROK8S_SNAP_DATA", self.snap.path())
            .env("HELM_CONFIG_HOME", at("helm/config"))
            .env("HELM_CACHE_HOME", at("helm/cache"))
            .env("HELM_DATA_HOME", at("helm/data"))
            .current_dir(self.work())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Run `binderctl ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run binderctl")
    }

    /// Run `binderctl ARGS`, which must exit 0; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "binderctl {args:?} exited {}:\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The real binderhub chart repository (`../shared/charts`: index.yaml and
/// the packaged charts), served on loopback; `None` (skipped, a failure
/// under CI) when the folder is not there.
pub fn chart_repository() -> Option<super::http_server::HttpServer> {
    use super::http_server::{HttpServer, Reply, Routes};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/charts");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        skip_or_fail(&format!(
            "the real chart repository {} is missing (the team's shared/ folder beside the checkout)",
            dir.display()
        ));
        return None;
    };
    let mut routes = Routes::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let content_type = if name.ends_with(".tgz") {
            "application/x-tar"
        } else if name.ends_with(".yaml") {
            "text/yaml"
        } else {
            continue;
        };
        let body = std::fs::read(entry.path()).expect("read a chart file");
        routes = routes.route(
            &format!("/charts/{name}"),
            Reply::new(200, content_type, body),
        );
    }
    Some(HttpServer::start(routes))
}

/// The shape of a JSON answer: each leaf's path (array elements as `[]`,
/// the keys of free-form maps such as labels as `*`) and its JSON type.
pub fn shape(value: &serde_json::Value) -> std::collections::BTreeMap<String, &'static str> {
    use serde_json::Value;
    /// Maps whose keys are data, not fields.
    const FREE_FORM: [&str; 13] = [
        "labels",
        "annotations",
        "matchLabels",
        "selector",
        "nodeSelector",
        "capacity",
        "allocatable",
        "hard",
        "used",
        "requests",
        "limits",
        "data",
        "parameters",
    ];
    fn walk(
        value: &Value,
        path: String,
        out: &mut std::collections::BTreeMap<String, &'static str>,
    ) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let free = FREE_FORM
                    .iter()
                    .any(|f| path == *f || path.ends_with(&format!(".{f}")));
                for (key, child) in map {
                    let key = if free { "*" } else { key.as_str() };
                    let sub = if path.is_empty() {
                        key.to_string()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, sub, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    walk(item, format!("{path}[]"), out);
                }
            }
            leaf => {
                let kind = match leaf {
                    Value::Null => "null",
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                out.insert(path, kind);
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(value, String::new(), &mut out);
    out
}

/// A stand-in's answer holds no field the server's answer to the same
/// request lacks, and none with another type: panics listing each one.
/// (The server may say more: the stand-ins answer what binderctl reads.)
pub fn assert_stand_in_within(what: &str, stand_in: &str, server: &str) {
    let parse = |text: &str, whose: &str| -> serde_json::Value {
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{what}: the {whose} answer is not JSON ({e})"))
    };
    let ours = shape(&parse(stand_in, "stand-in's"));
    let real = shape(&parse(server, "server's"));
    let wrong: Vec<String> = ours
        .iter()
        .filter_map(|(path, kind)| match real.get(path) {
            Some(real_kind) if real_kind == kind => None,
            Some(real_kind) => Some(format!(
                "  {path}: {kind} here, {real_kind} from the server"
            )),
            None => Some(format!(
                "  {path}: {kind} here, absent from the server's answer"
            )),
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the stand-in's answer to {what} is not what the server answers:\n{}",
        wrong.join("\n")
    );
}
