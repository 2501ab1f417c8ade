//! The command line turned into the core's plain configuration, as ripgrep
//! and fd do: the global options become a [`Target`], the shared argument
//! groups their plain twins. Every command file builds its operation's
//! options here or inline; nothing below `commands/` sees clap's types.

use crate::cli::{GlobalArgs, ImageMatch, NodeTargets, OutputArgs, PodSelection, RenderArgs};
use crate::cluster::target::Target;
use crate::ops;
use crate::output::format::OutputOptions;

/// The tools, cluster and release the global options name.
pub fn target(global: &GlobalArgs) -> Target {
    Target {
        tools: global.tools,
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        namespace: global.namespace.clone(),
        release: global.release.clone(),
        // 0 is kubectl's own "no limit": then no flag at all.
        request_timeout: Some(global.request_timeout).filter(|t| !t.is_zero()),
    }
}

/// `-o FORMAT` and `--no-headers`.
pub fn output_options(args: &OutputArgs) -> OutputOptions {
    OutputOptions {
        output: args.output,
        no_headers: args.no_headers,
    }
}

/// The values file, the output file and the egress look-ups.
pub fn render_options(args: &RenderArgs) -> ops::render::RenderOptions {
    ops::render::RenderOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        nameservers: args.nameservers.clone(),
        github_meta_url: args.github_meta_url.clone(),
        fastly_url: args.fastly_url.clone(),
        timeout: args.timeout,
        retries: args.retries,
        allow_unresolved: args.allow_unresolved,
        allow_default_route: args.allow_default_route,
        allow_special_addresses: args.allow_special_addresses,
        dns_note: args.dns_note.clone(),
    }
}

/// `-l`, `--older-than`, `--include-protected`.
pub fn pod_selection(args: &PodSelection) -> ops::pods::PodSelection {
    ops::pods::PodSelection {
        selector: args.selector.clone(),
        older_than: args.older_than.clone(),
        include_protected: args.include_protected,
    }
}

/// `-E` and `--containerd-namespace`.
pub fn image_match(args: &ImageMatch) -> ops::images::model::ImageMatch {
    ops::images::model::ImageMatch {
        regex: args.regex,
        containerd_namespace: args.containerd_namespace.clone(),
    }
}

/// `--node`, `--all-nodes` and the helper pods' options.
pub fn node_targets(args: &NodeTargets) -> ops::nodes::helper_pods::NodeTargets {
    ops::nodes::helper_pods::NodeTargets {
        nodes: args.nodes.clone(),
        all_nodes: args.all_nodes,
        helper_image: args.helper_image.clone(),
        helper_namespace: args.helper_namespace.clone(),
    }
}
