//! Where CoreDNS sends the names it does not serve itself: the `forward`
//! servers of the root zone's server block in a Corefile (the `Corefile`
//! key of the `coredns` ConfigMap in `kube-system`). Pure: text in, servers
//! out. User pods ask CoreDNS, so resolving through these servers gives the
//! answers the pods get (CDN names answer differently by who asks).
//!
//! MicroK8s' `dns` add-on writes a `forward .` to two public resolvers unless given
//! other servers; `forward . /etc/resolv.conf` means the node's resolver
//! configuration (CoreDNS runs with `dnsPolicy: Default`).

use std::net::{IpAddr, SocketAddr};

/// What the root zone forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// These servers.
    Servers(Vec<SocketAddr>),
    /// The servers of this resolv.conf file (on the node).
    ResolvConf(String),
}

/// The `forward .` of the Corefile's root server block.
pub fn forward(corefile: &str) -> Result<Forward, String> {
    let mut depth = 0usize;
    // Whether the block being read (at depth 1) serves the root zone.
    let mut in_root = false;
    let mut root_seen = false;
    for (number, raw) in corefile.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let opens = line.ends_with('{');
        let closes = line.starts_with('}');
        if closes {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                in_root = false;
            }
            continue;
        }
        if depth == 0 {
            if opens {
                let zones = &words[..words.len().saturating_sub(1)];
                let zones: Vec<&str> = if words.len() == 1 {
                    vec![line.trim_end_matches('{').trim()]
                } else {
                    zones.to_vec()
                };
                in_root = zones.iter().any(|z| is_root_zone(z));
                root_seen |= in_root;
                depth = 1;
            }
            continue;
        }
        if depth == 1 && in_root && words.first() == Some(&"forward") {
            if words.get(1).copied() != Some(".") {
                continue;
            }
            let targets: Vec<&str> = words[2..]
                .iter()
                .copied()
                .take_while(|w| *w != "{")
                .collect();
            return parse_targets(&targets, number + 1);
        }
        if opens {
            depth += 1;
        }
    }
    if !root_seen {
        return Err(
            "the Corefile has no server block for the root zone `.` (such as `.:53 { … }`)".into(),
        );
    }
    Err(
        "the Corefile's root server block has no `forward .` directive, so CoreDNS \
         resolves no name outside the cluster"
            .into(),
    )
}

/// `.`, `.:53`, `dns://.:53`.
fn is_root_zone(zone: &str) -> bool {
    let zone = zone.strip_prefix("dns://").unwrap_or(zone);
    zone == "."
        || zone
            .strip_prefix(".:")
            .is_some_and(|port| port.parse::<u16>().is_ok())
}

fn parse_targets(targets: &[&str], line: usize) -> Result<Forward, String> {
    if targets.is_empty() {
        return Err(format!("Corefile line {line}: `forward .` names no server"));
    }
    if let [path] = targets {
        if path.starts_with('/') {
            return Ok(Forward::ResolvConf(path.to_string()));
        }
    }
    let mut servers = Vec::new();
    for target in targets {
        if target.starts_with('/') {
            return Err(format!(
                "Corefile line {line}: `forward .` mixes a file ({target}) with servers"
            ));
        }
        let plain = target.strip_prefix("dns://").unwrap_or(target);
        if plain.contains("://") {
            return Err(format!(
                "Corefile line {line}: `forward .` to {target}: binderctl resolves over plain \
                 DNS only (give --nameserver with a server that answers the same)"
            ));
        }
        servers.push(parse_server(plain).ok_or_else(|| {
            format!("Corefile line {line}: `forward .` to {target}: not an IP address or IP:PORT")
        })?);
    }
    Ok(Forward::Servers(servers))
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT`, `[IPv6]`.
fn parse_server(text: &str) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return (addr.port() != 0).then_some(addr);
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

/// The `nameserver` lines of a resolv.conf text (an address each, port 53).
pub fn resolv_conf_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MICROK8S: &str = "\
.:53 {
    errors
    health {
      lameduck 5s
    }
    ready
    log . {
      class error
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . 192.0.2.8 192.0.2.4
    cache 30
    loop
    reload
    loadbalance
}
";

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn microk8s_default_forwards_to_its_two_servers() {
        assert_eq!(
            forward(MICROK8S).unwrap(),
            Forward::Servers(vec![addr("192.0.2.8:53"), addr("192.0.2.4:53")])
        );
    }

    #[test]
    fn a_file_means_the_nodes_resolv_conf() {
        let text = MICROK8S.replace(
            "forward . 192.0.2.8 192.0.2.4",
            "forward . /etc/resolv.conf {\n  max_concurrent 1000\n}",
        );
        assert_eq!(
            forward(&text).unwrap(),
            Forward::ResolvConf("/etc/resolv.conf".into())
        );
    }

    #[test]
    fn ports_schemes_and_other_zones() {
        let text = "example.test:53 {\n  forward . 192.0.2.1\n}\n\
                    dns://.:5300 {\n  forward example.test 192.0.2.2\n  \
                    forward . dns://198.51.100.53:5353 [2001:db8::53]:53 2001:db8::54 # two\n}\n";
        assert_eq!(
            forward(text).unwrap(),
            Forward::Servers(vec![
                addr("198.51.100.53:5353"),
                addr("[2001:db8::53]:53"),
                addr("[2001:db8::54]:53"),
            ])
        );
    }

    #[test]
    fn what_cannot_be_followed_is_named() {
        let err = forward("example.test {\n forward . 192.0.2.1\n}\n").unwrap_err();
        assert!(err.contains("root zone"), "{err}");
        let err = forward(".:53 {\n  cache 30\n}\n").unwrap_err();
        assert!(err.contains("no `forward .`"), "{err}");
        let err = forward(".:53 {\n  forward . tls://192.0.2.1\n}\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("tls://192.0.2.1"),
            "{err}"
        );
        let err = forward(".:53 {\n  forward . resolver.example\n}\n").unwrap_err();
        assert!(err.contains("resolver.example"), "{err}");
        let err = forward(".:53 {\n  forward .\n}\n").unwrap_err();
        assert!(err.contains("names no server"), "{err}");
    }

    #[test]
    fn resolv_conf_lines() {
        assert_eq!(
            resolv_conf_servers(
                "search example.test\nnameserver 192.0.2.53\n# x\nnameserver fe80::1%eth0\n"
            ),
            vec![addr("192.0.2.53:53"), addr("[fe80::1]:53")]
        );
    }
}
