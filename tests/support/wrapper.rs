//! A PATH folder over the real tools for the conformance tier: `kubectl`,
//! `helm` (Helm 4 or Helm 3) and `ctr` as links, and a `microk8s`
//! stand-in that does exactly what MicroK8s' wrappers do (after their
//! checks): `microk8s kubectl|helm ARGS` runs the tool with
//! `--kubeconfig=$SNAP_DATA/credentials/client.config` first, and
//! `microk8s ctr ARGS` runs `ctr --address=$SNAP_COMMON/run/containerd.sock
//! --namespace k8s.io ARGS` (MicroK8s' default `args/ctr`). Here the
//! kubeconfig and the socket are the test's.

use std::path::{Path, PathBuf};

/// The folder; dropped with the guard.
pub struct RealToolsBin {
    dir: tempfile::TempDir,
}

/// What the `microk8s` stand-in and the links point at.
pub struct RealTools<'a> {
    pub kubectl: &'a Path,
    pub helm: &'a Path,
    pub ctr: Option<&'a Path>,
    pub kubeconfig: &'a Path,
    pub containerd_socket: Option<&'a Path>,
}

fn quoted(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

impl RealToolsBin {
    pub fn new(tools: &RealTools) -> Self {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = tempfile::tempdir().expect("temp dir");
        symlink(tools.kubectl, dir.path().join("kubectl")).expect("kubectl link");
        symlink(tools.helm, dir.path().join("helm")).expect("helm link");
        if let Some(ctr) = tools.ctr {
            symlink(ctr, dir.path().join("ctr")).expect("ctr link");
        }
        let ctr_line = match (tools.ctr, tools.containerd_socket) {
            (Some(ctr), Some(socket)) => format!(
                "  ctr) shift; exec {} --address={} --namespace k8s.io \"$@\" ;;\n",
                quoted(ctr),
                quoted(socket)
            ),
            _ => String::new(),
        };
        let script = format!(
            "#!/bin/sh\n# MicroK8s' kubectl, helm and ctr wrappers, minus their checks.\n\
             case \"$1\" in\n\
             \x20 kubectl) shift; exec {kubectl} --kubeconfig={kc} \"$@\" ;;\n\
             \x20 helm) shift; exec {helm} --kubeconfig={kc} \"$@\" ;;\n\
             {ctr_line}\
             esac\n\
             echo \"microk8s stand-in: not a wrapper binderctl uses: $*\" >&2\n\
             exit 97\n",
            kubectl = quoted(tools.kubectl),
            helm = quoted(tools.helm),
            kc = quoted(tools.kubeconfig),
        );
        let path = dir.path().join("microk8s");
        std::fs::write(&path, script).expect("microk8s stand-in");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        RealToolsBin { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}
